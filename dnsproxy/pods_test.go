package dnsproxy

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/egressgw/egressgw/identity"
	"github.com/egressgw/egressgw/policy"
)

// TestServeDNSPerPod: two clients on loopback (127.0.0.2 and 127.0.0.3),
// pods of two namespaces, get each their own answers: a host exported to
// one namespace only, a Sidecar's egress hosts and its ALLOW_ANY; a third
// address no pod holds sees only what is exported everywhere.
func TestServeDNSPerPod(t *testing.T) {
	up := startUpstream(t)
	reg, err := policy.NewRegistry([]policy.Entry{
		{Host: "a-only.example.com", Ports: []uint32{443}, Source: "ServiceEntry team-a/a-only", Namespace: "team-a", ExportTo: []string{"."}},
		{Host: "public.example.com", Ports: []uint32{443}, Source: "ServiceEntry default/public", Namespace: "default"},
		{Host: "b-side.example.com", Ports: []uint32{443}, Source: "ServiceEntry team-b/b-side", Namespace: "team-b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := policy.NewSidecars([]policy.Sidecar{{Name: "team-b/default", Namespace: "team-b", HasMode: true, Mode: policy.AllowAny,
		Hosts: []string{"./*"}}}, "istio-system")
	if err != nil {
		t.Fatal(err)
	}
	p := &policy.Policy{Mode: policy.RegistryOnly, Registry: reg, Sidecars: sc}
	addrA, addrB, addrX := netip.MustParseAddr("127.0.0.2"), netip.MustParseAddr("127.0.0.3"), netip.MustParseAddr("127.0.0.4")
	tab := identity.NewTable([]*identity.Pod{
		{Namespace: "team-a", Name: "a-1", ServiceAccount: "default", IPs: []netip.Addr{addrA}},
		{Namespace: "team-b", Name: "b-1", ServiceAccount: "default", IPs: []netip.Addr{addrB}},
	}, nil)
	h := NewHandler(Config{Names: func() Names { return p }, Identities: func() *identity.Table { return tab },
		EgressAddr: egress4, Upstream: up.addr, BlockUnregistered: true})
	s := serve(t, h)

	const intercepted, forwarded = "10.96.0.10", "192.0.2.1"
	tests := []struct {
		from   netip.Addr
		qname  string
		rcode  int
		answer string
	}{
		{addrA, "a-only.example.com.", dns.RcodeSuccess, intercepted},
		{addrB, "a-only.example.com.", dns.RcodeSuccess, forwarded}, // not exported to team-b: unregistered, and team-b's Sidecar says ALLOW_ANY
		{addrX, "a-only.example.com.", dns.RcodeNameError, ""},      // unknown pod: only what is exported everywhere; REGISTRY_ONLY
		{addrA, "public.example.com.", dns.RcodeSuccess, intercepted},
		{addrB, "public.example.com.", dns.RcodeSuccess, forwarded}, // outside team-b's Sidecar egress hosts
		{addrX, "public.example.com.", dns.RcodeSuccess, intercepted},
		{addrB, "b-side.example.com.", dns.RcodeSuccess, intercepted},
		{addrA, "other.example.net.", dns.RcodeNameError, ""},
		{addrB, "other.example.net.", dns.RcodeSuccess, forwarded},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			c := &dns.Client{Net: network, Timeout: 2 * time.Second}
			if network == "udp" {
				c.Dialer = &net.Dialer{LocalAddr: &net.UDPAddr{IP: tt.from.AsSlice()}}
			} else {
				c.Dialer = &net.Dialer{LocalAddr: &net.TCPAddr{IP: tt.from.AsSlice()}}
			}
			resp, _, err := c.Exchange(query(tt.qname, dns.TypeA, 1232), s.Addr())
			if err != nil {
				t.Fatalf("%s %s from %s: %v", network, tt.qname, tt.from, err)
			}
			got := ""
			if len(resp.Answer) == 1 {
				got = resp.Answer[0].(*dns.A).A.String()
			}
			if resp.Rcode != tt.rcode || got != tt.answer {
				t.Errorf("%s %s from %s: rcode %s answer %q, want %s %q", network, tt.qname, tt.from,
					dns.RcodeToString[resp.Rcode], got, dns.RcodeToString[tt.rcode], tt.answer)
			}
		}
	}

	// Without a table (or without Identities) every client gets the
	// registry's answer, as before pods were known.
	h = NewHandler(Config{Names: func() Names { return p }, Identities: func() *identity.Table { return nil },
		EgressAddr: egress4, Upstream: up.addr, BlockUnregistered: true})
	s = serve(t, h)
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, Dialer: &net.Dialer{LocalAddr: &net.UDPAddr{IP: addrB.AsSlice()}}}
	resp, _, err := c.Exchange(query("a-only.example.com.", dns.TypeA, 1232), s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != intercepted {
		t.Errorf("without a pod table: answer %v, want %s", resp.Answer, intercepted)
	}
}
