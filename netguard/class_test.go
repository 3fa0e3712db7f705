package netguard

import (
	"net/netip"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		want Class
	}{
		{"8.8.8.8", Public},
		{"2606:4700::1111", Public},
		{"127.0.0.1", Loopback},
		{"127.255.0.9", Loopback},
		{"::1", Loopback},
		{"0.0.0.0", Unspecified},
		{"0.1.2.3", Unspecified},
		{"::", Unspecified},
		{"169.254.1.1", LinkLocal},
		{"fe80::1", LinkLocal},
		{"fe80::1%eth0", LinkLocal},
		{"169.254.169.254", Metadata},
		{"169.254.170.2", Metadata},
		{"100.100.100.200", Metadata},
		{"fd00:ec2::254", Metadata},
		{"224.0.0.1", Multicast},
		{"239.255.255.250", Multicast},
		{"ff02::1", Multicast},
		{"255.255.255.255", Broadcast},
		{"10.1.2.3", PrivateRFC1918},
		{"172.16.0.1", PrivateRFC1918},
		{"172.31.255.255", PrivateRFC1918},
		{"172.32.0.1", Public},
		{"192.168.1.1", PrivateRFC1918},
		{"100.64.0.1", PrivateCGNAT},
		{"100.127.255.255", PrivateCGNAT},
		{"100.128.0.1", Public},
		{"fc00::1", PrivateULA},
		{"fd12:3456::1", PrivateULA},
		{"240.0.0.1", Reserved},
		// IPv4-mapped
		{"::ffff:127.0.0.1", Loopback},
		{"::ffff:169.254.169.254", Metadata},
		{"::ffff:10.0.0.1", PrivateRFC1918},
		{"::ffff:8.8.8.8", Public},
		// IPv4-compatible (deprecated)
		{"::127.0.0.1", Loopback},
		{"::169.254.169.254", Metadata},
		{"::0.0.0.0", Unspecified},
		{"::8.8.8.8", Public},
		// NAT64 well-known prefix
		{"64:ff9b::127.0.0.1", Loopback},
		{"64:ff9b::7f00:1", Loopback},
		{"64:ff9b::169.254.169.254", Metadata},
		{"64:ff9b::10.0.0.1", PrivateRFC1918},
		{"64:ff9b::8.8.8.8", Public},
		// local-use NAT64: the /96 layout, and the /48, /56 and /64 ones
		{"64:ff9b:1::127.0.0.1", Loopback},
		{"64:ff9b:1::8.8.8.8", Public},
		{"64:ff9b:1:7f00:0001::", Loopback}, // /48: 127.0 at bits 48-63, 0.1 at 72-87
		{"64:ff9b:1:7f00:1::", Loopback},    // the same, shortened
		{"64:ff9b:1:a9:fe:a9fe::", Metadata},
		{"64:ff9b:1:0808:0008:0800::", Public}, // /48 layout of 8.8.8.8
		{"64:ff9b:1:7f:0:101::", Loopback},     // /56: 127 at bits 56-63, 0.1.1 at 72-95
		{"64:ff9b:1:0:7f:1:100::", Loopback},   // /64: 127.0.1.1 at bits 72-103
		// 6to4
		{"2002:7f00:1::", Loopback},
		{"2002:a9fe:a9fe::1", Metadata},
		{"2002:0a00:0001::", PrivateRFC1918},
		{"2002:0808:0808::", Public},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			if got := Classify(a); got != tt.want {
				t.Errorf("Classify(%s) = %q, want %q", a, got, tt.want)
			}
		})
	}
}

// TestEmbeddedFormsAgree: every IPv6 form embedding an IPv4 address has the
// IPv4 address's class.
func TestEmbeddedFormsAgree(t *testing.T) {
	for _, s := range []string{"127.0.0.1", "0.0.0.0", "169.254.169.254", "169.254.9.9", "224.0.0.1",
		"255.255.255.255", "10.1.2.3", "100.64.1.1", "192.168.0.1", "240.1.1.1", "8.8.8.8", "1.1.1.1"} {
		v4 := netip.MustParseAddr(s)
		want := Classify(v4)
		for _, f := range embeddings(v4) {
			if got := Classify(f); got != want {
				t.Errorf("Classify(%s) = %q, want %q (the class of %s)", f, got, want, v4)
			}
		}
	}
}

// embeddings returns the IPv6 forms that carry v4.
func embeddings(v4 netip.Addr) []netip.Addr {
	b := v4.As4()
	mk := func(p [16]byte) netip.Addr { return netip.AddrFrom16(p) }
	return []netip.Addr{
		netip.AddrFrom16(v4.As16()),                                               // ::ffff:a.b.c.d
		mk([16]byte{12: b[0], 13: b[1], 14: b[2], 15: b[3]}),                      // ::a.b.c.d
		mk([16]byte{0, 0x64, 0xff, 0x9b, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}), // 64:ff9b::/96
		mk([16]byte{0, 0x64, 0xff, 0x9b, 0, 1, 12: b[0], 13: b[1], 14: b[2], 15: b[3]}),
		mk([16]byte{0, 0x64, 0xff, 0x9b, 0, 1, b[0], b[1], 9: b[2], 10: b[3]}), // 64:ff9b:1::/48 layout
		mk([16]byte{0x20, 0x02, b[0], b[1], b[2], b[3], 15: 1}),                // 2002::/16
	}
}

func TestRange(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"10.1.2.3", "10.0.0.0/8"},
		{"172.20.0.1", "172.16.0.0/12"},
		{"192.168.9.9", "192.168.0.0/16"},
		{"100.64.0.1", "100.64.0.0/10"},
		{"fd00::1", "fc00::/7"},
		{"241.0.0.1", "240.0.0.0/4"},
		{"::ffff:10.1.2.3", "10.0.0.0/8"},
		{"64:ff9b::10.1.2.3", "10.0.0.0/8"},
		{"127.0.0.1", ""},
		{"8.8.8.8", ""},
		{"fd00:ec2::254", ""},
	}
	for _, tt := range tests {
		p, ok := Range(netip.MustParseAddr(tt.addr))
		got := ""
		if ok {
			got = p.String()
		}
		if got != tt.want {
			t.Errorf("Range(%s) = %q, want %q", tt.addr, got, tt.want)
		}
	}
}
