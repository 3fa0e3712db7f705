package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Guard decides whether an address resolved at request time may be
// dialled. It is immutable after New and safe for concurrent use.
type Guard struct {
	node  map[netip.Addr]struct{} // the node's own addresses, unmapped and unzoned
	allow []netip.Prefix          // --allow-cidrs, masked
}

// New returns a Guard that refuses node's addresses besides the classes
// always refused, and allows the private and reserved addresses inside one
// of allow. allow cannot re-open an always-refused class: 0.0.0.0/0 allows
// every private address but still no loopback one.
func New(node []netip.Addr, allow []netip.Prefix) *Guard {
	g := &Guard{node: make(map[netip.Addr]struct{}, len(node))}
	for _, a := range node {
		g.node[a.WithZone("").Unmap()] = struct{}{}
	}
	for _, p := range allow {
		g.allow = append(g.allow, p.Masked())
	}
	return g
}

// Check returns nil if a may be dialled, else a *DeniedError naming its
// class. It does not allocate when it returns nil.
func (g *Guard) Check(a netip.Addr) error {
	rs, n := readings(a)
	raw := a.WithZone("")
	var r netip.Addr
	c := Public // the most restricted class of the readings not allowed
	for _, x := range rs[:n] {
		xc := classify(x)
		if _, ok := g.node[x]; ok && xc < Node {
			xc = Node
		}
		if xc == Public || !xc.AlwaysRefused() && (g.allowed(x) || g.allowed(raw)) {
			continue
		}
		if xc > c {
			r, c = x, xc
		}
	}
	if c == Public {
		return nil
	}
	e := &DeniedError{Addr: a, Class: c}
	if r != raw {
		e.Embedded = r
	}
	if !c.AlwaysRefused() {
		e.Allow, _ = Range(r)
	}
	return e
}

func (g *Guard) allowed(a netip.Addr) bool {
	for _, p := range g.allow {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// DeniedError is a refusal to dial an address resolved at request time.
type DeniedError struct {
	Host     string       // the name that resolved to Addr, set by the dialler; "" when Addr was given as a literal
	Addr     netip.Addr   // the address refused
	Embedded netip.Addr   // the IPv4 address Addr embeds that has Class (::ffff:127.0.0.1 -> 127.0.0.1); invalid if none
	Class    Class        // why
	Allow    netip.Prefix // what --allow-cidrs takes to allow Addr; invalid for the classes always refused
}

// Error reads "api.example.com resolves to 127.0.0.1, a loopback address, which ...".
func (e *DeniedError) Error() string {
	if e.Host == "" || e.Host == e.Addr.String() {
		return e.Addr.String() + " is " + e.what()
	}
	return e.Host + " resolves to " + e.Addr.String() + ", " + e.what()
}

// Reason is Error without the host: "it resolves to 127.0.0.1, a loopback
// address, which ...", for a message that names the host already.
func (e *DeniedError) Reason() string {
	if e.Host == "" || e.Host == e.Addr.String() {
		return e.Addr.String() + " is " + e.what()
	}
	return "it resolves to " + e.Addr.String() + ", " + e.what()
}

func (e *DeniedError) what() string {
	s := phrases[e.Class]
	if e.Embedded.IsValid() {
		s += " (it embeds " + e.Embedded.String() + ")"
	}
	if e.Allow.IsValid() {
		return s + ": allow it with --allow-cidrs " + e.Allow.String()
	}
	return s + ", which egressgw never dials for names resolved at request time" +
		" (a ServiceEntry with STATIC endpoints or location MESH_INTERNAL can name it)"
}

// ParseCIDRs parses a comma-separated list of CIDRs (an IP alone is a
// single-address prefix), as --allow-cidrs takes them. The error names the
// entry that is not one.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("%q is not a CIDR (want e.g. 10.0.0.0/8 or fd00::/8)", f)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// NodeAddrs returns the addresses of the node's interfaces (net.InterfaceAddrs).
func NodeAddrs() ([]netip.Addr, error) {
	as, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("list the node's addresses: %w", err)
	}
	out := make([]netip.Addr, 0, len(as))
	for _, a := range as {
		var ip net.IP
		switch v := a.(type) {
		case *net.IPNet:
			ip = v.IP
		case *net.IPAddr:
			ip = v.IP
		}
		if x, ok := netip.AddrFromSlice(ip); ok {
			out = append(out, x.Unmap())
		}
	}
	return out, nil
}
