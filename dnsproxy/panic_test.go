package dnsproxy

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// panicky answers "ok." with an A record and panics for any other name:
// on the read loop itself (split), on the goroutine it hands back (later),
// or in ServeDNS (TCP).
type panicky struct{}

func (panicky) answer(w dns.ResponseWriter, r *dns.Msg) {
	if r.Question[0].Name != "ok." {
		panic("handler exploded on " + r.Question[0].Name)
	}
	m := new(dns.Msg)
	m.SetReply(r)
	m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "ok.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: []byte{192, 0, 2, 1}}}
	_ = w.WriteMsg(m)
}

func (p panicky) ServeDNS(w dns.ResponseWriter, r *dns.Msg) { p.answer(w, r) }

func (p panicky) serveSplit(w dns.ResponseWriter, r *dns.Msg) func() {
	if r.Question[0].Name == "later." {
		return func() { p.answer(w, r) }
	}
	p.answer(w, r)
	return nil
}

// TestServerSurvivesPanics: a query whose answer panics, on the UDP read
// loop, on a query's own goroutine or on TCP, goes unanswered and is
// reported; the server answers the next one.
func TestServerSurvivesPanics(t *testing.T) {
	var mu sync.Mutex
	var reported []string
	s := NewServer("127.0.0.1:0", panicky{})
	s.Stdlib = stdlibInTests
	s.OnPanic = func(v any, stack []byte) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, fmt.Sprint(v))
		if len(stack) == 0 {
			t.Error("no stack reported")
		}
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	for _, tt := range []struct{ network, name string }{
		{"udp", "boom."},  // on the read loop
		{"udp", "later."}, // on the query's goroutine
		{"tcp", "boom."},
	} {
		c := &dns.Client{Net: tt.network, Timeout: 300 * time.Millisecond}
		q := new(dns.Msg)
		q.SetQuestion(tt.name, dns.TypeA)
		if resp, _, err := c.Exchange(q, s.Addr()); err == nil {
			t.Errorf("%s %s: answered %v, want no answer (its handler panicked)", tt.network, tt.name, resp)
		}
		c.Timeout = 2 * time.Second
		q.SetQuestion("ok.", dns.TypeA)
		if resp, _, err := c.Exchange(q, s.Addr()); err != nil || len(resp.Answer) != 1 {
			t.Fatalf("%s: the query after the panic: %v, %v; want it answered", tt.network, resp, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"handler exploded on boom.", "handler exploded on later.", "handler exploded on boom."}
	if fmt.Sprint(reported) != fmt.Sprint(want) {
		t.Errorf("reported %q, want %q", reported, want)
	}
}
