package netguard

import "net/netip"

// Class is the kind of address an address is, for a refusal's message.
// Classes are ordered from least to most restricted: an address with more
// than one reading (an IPv6 form embedding an IPv4 address) takes the most
// restricted class of its readings.
type Class uint8

const (
	Public         Class = iota // dialled
	Reserved                    // 240.0.0.0/4 (used as private space by some clouds): refused unless allowed
	PrivateULA                  // fc00::/7: refused unless allowed
	PrivateCGNAT                // 100.64.0.0/10: refused unless allowed
	PrivateRFC1918              // 10/8, 172.16/12, 192.168/16: refused unless allowed
	Node                        // an address of this node (only a Guard knows them): always refused
	Multicast                   // always refused
	Broadcast                   // 255.255.255.255: always refused
	LinkLocal                   // 169.254/16, fe80::/10: always refused
	Metadata                    // cloud metadata services: always refused
	Unspecified                 // 0.0.0.0/8, ::: always refused (Linux connects them to the node itself)
	Loopback                    // 127/8, ::1: always refused
)

var classNames = [...]string{
	Public:         "public",
	Reserved:       "reserved (240.0.0.0/4)",
	PrivateULA:     "private (ULA fc00::/7)",
	PrivateCGNAT:   "private (CGNAT 100.64.0.0/10)",
	PrivateRFC1918: "private (RFC 1918)",
	Node:           "this node's own",
	Multicast:      "multicast",
	Broadcast:      "broadcast",
	LinkLocal:      "link-local",
	Metadata:       "link-local (cloud metadata)",
	Unspecified:    "unspecified",
	Loopback:       "loopback",
}

// phrases name an address of each class inside a sentence.
var phrases = [...]string{
	Public:         "a public address",
	Reserved:       "a reserved address (240.0.0.0/4)",
	PrivateULA:     "a private address (ULA fc00::/7)",
	PrivateCGNAT:   "a private address (CGNAT 100.64.0.0/10)",
	PrivateRFC1918: "a private address (RFC 1918)",
	Node:           "an address of this node",
	Multicast:      "a multicast address",
	Broadcast:      "the broadcast address",
	LinkLocal:      "a link-local address",
	Metadata:       "a link-local address (cloud metadata)",
	Unspecified:    "an unspecified address",
	Loopback:       "a loopback address",
}

// labels are short names for metric labels.
var labels = [...]string{
	Public: "public", Reserved: "reserved", PrivateULA: "private_ula", PrivateCGNAT: "private_cgnat",
	PrivateRFC1918: "private_rfc1918", Node: "node", Multicast: "multicast", Broadcast: "broadcast",
	LinkLocal: "link_local", Metadata: "metadata", Unspecified: "unspecified", Loopback: "loopback",
}

func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "unknown"
}

// Label is the class as a metric label: lowercase, no spaces.
func (c Class) Label() string {
	if int(c) < len(labels) {
		return labels[c]
	}
	return "unknown"
}

// AlwaysRefused reports whether no --allow-cidrs prefix can allow c.
func (c Class) AlwaysRefused() bool { return c >= Node }

// metadata are the cloud metadata services' addresses: AWS, GCP, Azure and
// Oracle use 169.254.169.254 (AWS also fd00:ec2::254, and 169.254.170.2 for
// ECS task credentials); Alibaba uses 100.100.100.200.
var metadata = [...]netip.Addr{
	netip.AddrFrom4([4]byte{169, 254, 169, 254}),
	netip.AddrFrom4([4]byte{169, 254, 170, 2}),
	netip.AddrFrom4([4]byte{100, 100, 100, 200}),
	netip.AddrFrom16([16]byte{0xfd, 0x00, 0x0e, 0xc2, 14: 0x02, 15: 0x54}),
}

// ranges maps the classes of refused-unless-allowed addresses to the
// prefix that allowing them takes, most specific first within a class.
var ranges = [...]struct {
	p netip.Prefix
	c Class
}{
	{netip.MustParsePrefix("10.0.0.0/8"), PrivateRFC1918},
	{netip.MustParsePrefix("172.16.0.0/12"), PrivateRFC1918},
	{netip.MustParsePrefix("192.168.0.0/16"), PrivateRFC1918},
	{netip.MustParsePrefix("100.64.0.0/10"), PrivateCGNAT},
	{netip.MustParsePrefix("240.0.0.0/4"), Reserved},
	{netip.MustParsePrefix("fc00::/7"), PrivateULA},
}

// Range returns the prefix of a's class that --allow-cidrs would take to
// allow a (10.0.0.0/8 for 10.1.2.3), or false if a's class cannot be
// allowed or needs no allowing. a is read as Classify reads it.
func Range(a netip.Addr) (netip.Prefix, bool) {
	r, c := worst(a)
	if c == Public || c.AlwaysRefused() {
		return netip.Prefix{}, false
	}
	for _, x := range ranges {
		if x.p.Contains(r) {
			return x.p, true
		}
	}
	return netip.Prefix{}, false
}

// Classify returns a's class, ignoring its zone. An IPv6 address that
// embeds an IPv4 address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96,
// NAT64 64:ff9b::/96 and 64:ff9b:1::/48, 6to4 2002::/16) takes the class of
// the IPv4 address. It never returns Node: only a Guard knows the node's
// addresses.
func Classify(a netip.Addr) Class {
	_, c := worst(a)
	return c
}

// worst returns the reading of a with the most restricted class, and that class.
func worst(a netip.Addr) (netip.Addr, Class) {
	rs, n := readings(a)
	r, c := rs[0], classify(rs[0])
	for _, x := range rs[1:n] {
		if xc := classify(x); xc > c {
			r, c = x, xc
		}
	}
	return r, c
}

// readings returns the addresses a stands for: a itself (unmapped,
// unzoned) or, for an IPv6 form that embeds an IPv4 address, that address.
// Local-use NAT64 (64:ff9b:1::/48, RFC 8215) may embed it at any of the
// RFC 6052 prefix lengths from /48 on, and which one the translator uses
// is not known here: each layout whose reserved octet and suffix are zero
// is a reading, unless it falls in 0.0.0.0/8 (then it is reading the zero
// bytes of another layout). This may refuse an address under a non-/96
// layout whose other readings are restricted; it never allows one whose
// true reading is.
func readings(a netip.Addr) (rs [4]netip.Addr, n int) {
	a = a.WithZone("").Unmap()
	if a.Is4() {
		rs[0] = a
		return rs, 1
	}
	b := a.As16()
	v4 := func(i, j, k, l int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[j], b[k], b[l]}) }
	zero := func(from int) bool {
		for _, x := range b[from:] {
			if x != 0 {
				return false
			}
		}
		return true
	}
	switch {
	case a == netip.IPv6Unspecified() || a == netip.IPv6Loopback():
		rs[0] = a
		return rs, 1
	case b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0 && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0 &&
		b[8] == 0 && b[9] == 0 && b[10] == 0 && b[11] == 0: // IPv4-compatible ::a.b.c.d (deprecated)
		rs[0] = v4(12, 13, 14, 15)
		return rs, 1
	case b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 0 && b[6] == 0 && b[7] == 0 &&
		b[8] == 0 && b[9] == 0 && b[10] == 0 && b[11] == 0: // NAT64 well-known prefix 64:ff9b::/96
		rs[0] = v4(12, 13, 14, 15)
		return rs, 1
	case b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && b[4] == 0 && b[5] == 1: // local-use NAT64 64:ff9b:1::/48
		add := func(r netip.Addr) {
			if r.As4()[0] != 0 { // 0.0.0.0/8: the zero bytes of another layout
				rs[n], n = r, n+1
			}
		}
		add(v4(12, 13, 14, 15)) // a /96 prefix
		if b[8] == 0 {
			if zero(11) { // /48: bits 48-63 and 72-87
				add(v4(6, 7, 9, 10))
			}
			if zero(12) { // /56: bits 56-63 and 72-95
				add(v4(7, 9, 10, 11))
			}
			if zero(13) { // /64: bits 72-103
				add(v4(9, 10, 11, 12))
			}
		}
		if n == 0 {
			rs[0], n = v4(12, 13, 14, 15), 1
		}
		return rs, n
	case b[0] == 0x20 && b[1] == 0x02: // 6to4 2002:a.b.c.d::/48
		rs[0] = v4(2, 3, 4, 5)
		return rs, 1
	}
	rs[0] = a
	return rs, 1
}

// classify returns the class of one reading (unmapped, unzoned).
func classify(a netip.Addr) Class {
	for _, m := range metadata {
		if a == m {
			return Metadata
		}
	}
	if a.Is4() {
		b := a.As4()
		switch {
		case b[0] == 0:
			return Unspecified // 0.0.0.0/8, "this network"
		case b[0] == 127:
			return Loopback
		case b == [4]byte{255, 255, 255, 255}:
			return Broadcast
		case b[0] == 169 && b[1] == 254:
			return LinkLocal
		case b[0] >= 224 && b[0] < 240:
			return Multicast
		}
	} else {
		switch {
		case a.IsUnspecified():
			return Unspecified
		case a.IsLoopback():
			return Loopback
		case a.IsLinkLocalUnicast():
			return LinkLocal
		case a.IsMulticast():
			return Multicast
		}
	}
	for _, x := range ranges {
		if x.p.Contains(a) {
			return x.c
		}
	}
	return Public
}
