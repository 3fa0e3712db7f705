package dnsproxy_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/egressgw/egressgw/dnsproxy"
)

// registry stands in for policy.Registry.
type registry map[string]bool

func (r registry) Intercepts(name string) bool {
	return r[strings.TrimSuffix(strings.ToLower(name), ".")]
}

func Example() {
	names := dnsproxy.Names(registry{"api.example.com": true})
	h := dnsproxy.NewHandler(dnsproxy.Config{
		Names:             func() dnsproxy.Names { return names },
		EgressAddr:        netip.MustParseAddr("10.96.0.10"),
		ClusterDomain:     "cluster.local",
		Upstream:          "127.0.0.1:1", // not asked in this example
		BlockUnregistered: true,
	})
	srv := dnsproxy.NewServer("127.0.0.1:0", h)
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown(context.Background())

	c := &dns.Client{Timeout: time.Second}
	for _, name := range []string{"api.example.com.", "unregistered.example.net."} {
		m := new(dns.Msg)
		m.SetQuestion(name, dns.TypeA)
		m.SetEdns0(1232, false)
		resp, _, err := c.Exchange(m, srv.Addr())
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(name, dns.RcodeToString[resp.Rcode])
		for _, rr := range resp.Answer {
			fmt.Println(" ", rr)
		}
		for _, o := range resp.IsEdns0().Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok {
				fmt.Printf("  EDE %d: %s\n", e.InfoCode, e.ExtraText)
			}
		}
	}
	// Output:
	// api.example.com. NOERROR
	//   api.example.com.	5	IN	A	10.96.0.10
	// unregistered.example.net. NXDOMAIN
	//   EDE 15: egressgw: unregistered.example.net is not registered (outboundTrafficPolicy REGISTRY_ONLY)
}
