package dnsproxy

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func FuzzServeDNS(f *testing.F) {
	for _, m := range []*dns.Msg{
		query("api.example.com", dns.TypeA, 0),
		query("x.wild.example.org", dns.TypeHTTPS, 1232),
		query("kubernetes.default.svc.cluster.local", dns.TypeA, 4096),
		query("big.svc.cluster.local", dns.TypeA, 0),
		query("blocked.example.net", dns.TypeAAAA, 1232),
		query("1.2.0.192.in-addr.arpa", dns.TypePTR, 0),
	} {
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	twoOPT := query("api.example.com", dns.TypeA, 1232)
	twoOPT.Extra = append(twoOPT.Extra, newOPT(true))
	b, _ := twoOPT.Pack()
	f.Add(b)
	notify := query("api.example.com", dns.TypeSOA, 0)
	notify.Opcode = dns.OpcodeNotify
	b, _ = notify.Pack()
	f.Add(b)

	up := startUpstream(f)
	handlers := []*Handler{
		NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: up.addr,
			BlockUnregistered: true, Timeout: 200 * time.Millisecond}),
		NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress6, Upstream: up.addr,
			Timeout: 200 * time.Millisecond}),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := new(dns.Msg)
		if r.Unpack(data) != nil {
			return
		}
		intercepted := len(r.Question) == 1 && testNames.Intercepts(r.Question[0].Name)
		for i, h := range handlers {
			w := &recorder{tcp: i == 1}
			h.ServeDNS(w, r.Copy())
			if w.err != nil {
				t.Fatalf("handler %d: reply does not pack: %v", i, w.err)
			}
			if len(w.msgs) > 1 {
				t.Fatalf("handler %d: %d replies", i, len(w.msgs))
			}
			if len(w.msgs) == 0 {
				if !r.Response {
					t.Fatalf("handler %d: no reply to a query", i)
				}
				continue
			}
			got := w.msgs[0]
			if got.Id != r.Id || !got.Response {
				t.Fatalf("handler %d: reply id %d response %v, want id %d", i, got.Id, got.Response, r.Id)
			}
			if !w.tcp {
				size := dns.MinMsgSize
				if opt := r.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
					size = int(opt.UDPSize())
				}
				if len(w.packed[0]) > size {
					t.Fatalf("handler %d: UDP reply of %d bytes, client takes %d", i, len(w.packed[0]), size)
				}
			}
			if intercepted && r.Opcode == dns.OpcodeQuery && !r.Response {
				for _, rr := range got.Answer {
					var ip net.IP
					switch rr := rr.(type) {
					case *dns.A:
						ip = rr.A
					case *dns.AAAA:
						ip = rr.AAAA
					default:
						t.Fatalf("handler %d: intercepted name answered with %v", i, rr)
					}
					if !ip.Equal(egress4.AsSlice()) && !ip.Equal(egress6.AsSlice()) {
						t.Fatalf("handler %d: intercepted name answered with %v, not the egress address", i, ip)
					}
				}
			}
		}
	})
}
