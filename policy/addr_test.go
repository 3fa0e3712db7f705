package policy

import (
	"net/netip"
	"testing"
)

// TestPrefixContains checks prefix.contains against netip.Prefix.Contains,
// which the source match used to call, on the edges of every family.
func TestPrefixContains(t *testing.T) {
	prefixes := []string{
		"0.0.0.0/0", "10.0.0.0/8", "10.1.2.3/32", "10.1.2.0/31", "192.168.0.0/16", "128.0.0.0/1",
		"::/0", "fd00::/8", "::ffff:0:0/96", "::ffff:10.0.0.0/104", "2001:db8::/32", "2001:db8::1/128",
		"2001:db8:0:0:8000::/65", "2001:db8::/64", "2001:db8::/63", "fe80::/10",
	}
	addrs := []netip.Addr{
		{}, // invalid
		netip.MustParseAddr("0.0.0.0"), netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("10.1.2.2"),
		netip.MustParseAddr("10.255.255.255"), netip.MustParseAddr("11.0.0.0"), netip.MustParseAddr("192.168.9.9"),
		netip.MustParseAddr("255.255.255.255"), netip.MustParseAddr("::"), netip.MustParseAddr("::ffff:10.1.2.3"),
		netip.MustParseAddr("fd00::1"), netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2"),
		netip.MustParseAddr("2001:db8:0:0:8000::1"), netip.MustParseAddr("2001:db8:0:1::1"),
		netip.MustParseAddr("fe80::1"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("ffff::1"),
	}
	for _, ps := range prefixes {
		p := netip.MustParsePrefix(ps)
		cp := newPrefix(p)
		for _, a := range addrs {
			// Decide unmaps the source before matching.
			a = a.Unmap()
			ca := newAddr(a)
			if got, want := cp.contains(&ca), p.Contains(a); got != want {
				t.Errorf("%v contains %v = %v, want %v", p, a, got, want)
			}
		}
	}
}
