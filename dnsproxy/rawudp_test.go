package dnsproxy

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Answers reach clients whatever the query socket's family: IPv4, IPv6,
// and an IPv4 client of a dual-stack socket (addressed IPv4-mapped).
func TestUDPAnswersEachFamily(t *testing.T) {
	answer := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(192, 0, 2, 1)})
		_ = w.WriteMsg(m)
	})
	for _, tt := range []struct{ name, listen, client string }{
		{"IPv4", "127.0.0.1:0", "127.0.0.1"},
		{"IPv6", "[::1]:0", "::1"},
		{"IPv4 client, dual-stack socket", "[::]:0", "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if pc, err := net.ListenPacket("udp", tt.listen); err != nil {
				t.Skipf("no %s here: %v", tt.listen, err)
			} else {
				_ = pc.Close()
			}
			s := NewServer(tt.listen, answer)
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			_, port, _ := net.SplitHostPort(s.Addr())
			c := &dns.Client{Timeout: 2 * time.Second}
			r, _, err := c.Exchange(new(dns.Msg).SetQuestion("a.example.", dns.TypeA), net.JoinHostPort(tt.client, port))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Answer) != 1 {
				t.Fatalf("answer: %v", r)
			}
		})
	}
}
