package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

func TestGuardCheck(t *testing.T) {
	node := []netip.Addr{netip.MustParseAddr("10.231.1.1"), netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8::7")}
	tests := []struct {
		name      string
		allow     string
		addr      string
		wantClass Class // Public: allowed
		wantMsg   []string
	}{
		{name: "public", addr: "93.184.215.14"},
		{name: "public v6", addr: "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		{name: "loopback", addr: "127.0.0.1", wantClass: Loopback,
			wantMsg: []string{"127.0.0.1 is a loopback address, which egressgw never dials for names resolved at request time"}},
		{name: "loopback v6", addr: "::1", wantClass: Loopback},
		{name: "unspecified", addr: "0.0.0.0", wantClass: Unspecified},
		{name: "metadata", addr: "169.254.169.254", wantClass: Metadata, wantMsg: []string{"cloud metadata"}},
		{name: "metadata v6", addr: "fd00:ec2::254", allow: "fc00::/7", wantClass: Metadata},
		{name: "IPv4-mapped loopback", addr: "::ffff:127.0.0.1", wantClass: Loopback, wantMsg: []string{"(it embeds 127.0.0.1)"}},
		{name: "NAT64 loopback", addr: "64:ff9b::7f00:1", wantClass: Loopback, wantMsg: []string{"64:ff9b::7f00:1 is a loopback address (it embeds 127.0.0.1)"}},
		{name: "6to4 metadata", addr: "2002:a9fe:a9fe::", wantClass: Metadata},
		{name: "node address", addr: "203.0.113.7", wantClass: Node, wantMsg: []string{"an address of this node"}},
		{name: "node address, private and allowed", addr: "10.231.1.1", allow: "10.0.0.0/8", wantClass: Node},
		{name: "node address mapped", addr: "::ffff:203.0.113.7", wantClass: Node},
		{name: "node address in NAT64", addr: "64:ff9b::203.0.113.7", wantClass: Node},
		{name: "node v6 address", addr: "2001:db8::7", wantClass: Node},
		{name: "private refused by default", addr: "10.1.2.3", wantClass: PrivateRFC1918,
			wantMsg: []string{"10.1.2.3 is a private address (RFC 1918): allow it with --allow-cidrs 10.0.0.0/8"}},
		{name: "private allowed", addr: "10.1.2.3", allow: "10.1.0.0/16"},
		{name: "private outside the allowed prefix", addr: "10.2.0.1", allow: "10.1.0.0/16", wantClass: PrivateRFC1918},
		{name: "mapped private allowed by the IPv4 prefix", addr: "::ffff:10.1.2.3", allow: "10.0.0.0/8"},
		{name: "NAT64 private allowed by the IPv6 prefix", addr: "64:ff9b::10.1.2.3", allow: "64:ff9b::/96"},
		{name: "CGNAT", addr: "100.64.3.4", wantClass: PrivateCGNAT, wantMsg: []string{"--allow-cidrs 100.64.0.0/10"}},
		{name: "ULA", addr: "fd12::1", wantClass: PrivateULA, wantMsg: []string{"--allow-cidrs fc00::/7"}},
		{name: "ULA allowed", addr: "fd12::1", allow: "fd00::/8"},
		{name: "allow-all cannot re-open loopback", addr: "127.0.0.1", allow: "0.0.0.0/0,::/0", wantClass: Loopback},
		{name: "allow-all cannot re-open mapped loopback", addr: "::ffff:127.0.0.1", allow: "0.0.0.0/0,::/0", wantClass: Loopback},
		{name: "allow-all cannot re-open link-local", addr: "169.254.1.1", allow: "169.254.0.0/16", wantClass: LinkLocal},
		{name: "allow-all allows private", addr: "192.168.1.1", allow: "0.0.0.0/0"},
		{name: "multicast", addr: "ff02::1", allow: "::/0", wantClass: Multicast},
		{name: "broadcast", addr: "255.255.255.255", allow: "0.0.0.0/0", wantClass: Broadcast},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			allow, err := ParseCIDRs(tt.allow)
			if err != nil {
				t.Fatal(err)
			}
			err = New(node, allow).Check(netip.MustParseAddr(tt.addr))
			if tt.wantClass == Public {
				if err != nil {
					t.Fatalf("Check(%s) = %v, want nil", tt.addr, err)
				}
				return
			}
			var de *DeniedError
			if !errors.As(err, &de) {
				t.Fatalf("Check(%s) = %v, want a *DeniedError", tt.addr, err)
			}
			if de.Class != tt.wantClass || de.Addr != netip.MustParseAddr(tt.addr) {
				t.Errorf("Check(%s): class %q addr %s, want %q %s", tt.addr, de.Class, de.Addr, tt.wantClass, tt.addr)
			}
			if de.Class.AlwaysRefused() == de.Allow.IsValid() {
				t.Errorf("Check(%s): Allow = %v for class %q", tt.addr, de.Allow, de.Class)
			}
			for _, w := range tt.wantMsg {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestDeniedErrorMessages(t *testing.T) {
	e := &DeniedError{Host: "foo.example.com", Addr: netip.MustParseAddr("127.0.0.1"), Class: Loopback}
	if got, want := e.Error(), "foo.example.com resolves to 127.0.0.1, a loopback address, which egressgw never dials"; !strings.HasPrefix(got, want) {
		t.Errorf("Error() = %q, want it to start %q", got, want)
	}
	if got, want := e.Reason(), "it resolves to 127.0.0.1, a loopback address, which egressgw never dials"; !strings.HasPrefix(got, want) {
		t.Errorf("Reason() = %q, want it to start %q", got, want)
	}
	p := &DeniedError{Host: "10.1.2.3", Addr: netip.MustParseAddr("10.1.2.3"), Class: PrivateRFC1918, Allow: netip.MustParsePrefix("10.0.0.0/8")}
	if got, want := p.Reason(), "10.1.2.3 is a private address (RFC 1918): allow it with --allow-cidrs 10.0.0.0/8"; got != want {
		t.Errorf("Reason() = %q, want %q", got, want)
	}
}

func TestParseCIDRs(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{in: "", want: ""},
		{in: "10.0.0.0/8", want: "10.0.0.0/8"},
		{in: "10.0.0.0/8, fd00::/8 ,", want: "10.0.0.0/8 fd00::/8"},
		{in: "10.1.2.3/8", want: "10.0.0.0/8"},
		{in: "192.168.1.5", want: "192.168.1.5/32"},
		{in: "fd00::1", want: "fd00::1/128"},
		{in: "10.0.0.0/33", wantErr: `"10.0.0.0/33" is not a CIDR`},
		{in: "10.0.0.0/8,bogus", wantErr: `"bogus" is not a CIDR`},
		{in: "fe80::1%eth0", wantErr: `"fe80::1%eth0" is not a CIDR`},
	}
	for _, tt := range tests {
		ps, err := ParseCIDRs(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCIDRs(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		var got []string
		for _, p := range ps {
			got = append(got, p.String())
		}
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("ParseCIDRs(%q) = %v, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCheckAllocs(t *testing.T) {
	g := New([]netip.Addr{netip.MustParseAddr("10.231.1.1")}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
	for _, s := range []string{"93.184.215.14", "10.1.2.3", "2606:4700::1111", "::ffff:10.1.2.3", "64:ff9b:1::8.8.8.8"} {
		a := netip.MustParseAddr(s)
		if n := testing.AllocsPerRun(100, func() { _ = g.Check(a) }); n != 0 {
			t.Errorf("Check(%s) allocates %v times, want 0", s, n)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	g := New([]netip.Addr{netip.MustParseAddr("10.231.1.1")}, nil)
	a := netip.MustParseAddr("93.184.215.14")
	for b.Loop() {
		_ = g.Check(a)
	}
}
