package netguard

import (
	"errors"
	"net/netip"
	"testing"
)

// FuzzCheck holds Check to Classify on any 16 bytes: an address is allowed
// only when its class can be allowed, a refusal names the address and a
// class at least as restricted, and a refused IPv4 address's IPv4-mapped,
// -compatible, NAT64 and 6to4 forms are refused too.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "::1", "10.1.2.3", "8.8.8.8", "64:ff9b:1:7f00:1::", "2002:a9fe:a9fe::", "fd00:ec2::254"} {
		b := netip.MustParseAddr(s).As16()
		f.Add(b[:])
	}
	g := New([]netip.Addr{netip.MustParseAddr("203.0.113.7")}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) != 16 && len(raw) != 4 {
			return
		}
		a, _ := netip.AddrFromSlice(raw)
		err := g.Check(a)
		c := Classify(a)
		var de *DeniedError
		switch {
		case err == nil:
			if c.AlwaysRefused() {
				t.Fatalf("Check(%s) allowed class %q", a, c)
			}
		case !errors.As(err, &de):
			t.Fatalf("Check(%s) = %v, not a *DeniedError", a, err)
		case de.Addr != a || de.Class < c || de.Class == Public || de.Error() == "":
			t.Fatalf("Check(%s) = %+v, Classify = %q", a, de, c)
		}
		if a.Is4() && err != nil {
			for i, f := range embeddings(a) {
				if i == 4 && a.As4()[0] == 0 {
					continue // local-use NAT64 /48 layout: 0.0.0.0/8 readings are not taken (see readings)
				}
				if g.Check(f) == nil {
					t.Fatalf("Check(%s) = %v but Check(%s) = nil", a, err, f)
				}
			}
		}
	})
}

// FuzzParseCIDRs: whatever --allow-cidrs is given, ParseCIDRs returns
// masked prefixes or an error, and never panics.
func FuzzParseCIDRs(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.0/8, fd00::/8", "1.2.3.4", "::/0", "x/8", ",,", "fe80::1%eth0/64"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ps, err := ParseCIDRs(s)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || p != p.Masked() {
				t.Fatalf("ParseCIDRs(%q) returned %v", s, p)
			}
		}
	})
}
