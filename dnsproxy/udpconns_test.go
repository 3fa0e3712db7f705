package dnsproxy

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// scripted is a UDP upstream on 127.0.0.1 that answers the n-th query (from
// 0) with whatever datagrams its script returns, in order, and records the
// address each query came from.
type scripted struct {
	pc net.PacketConn

	mu      sync.Mutex
	script  func(n int, q *dns.Msg) []*dns.Msg // guarded by mu
	from    []string                           // guarded by mu
	queries []*dns.Msg                         // guarded by mu
	addrs   []net.Addr                         // guarded by mu
}

func startScripted(t *testing.T, script func(n int, q *dns.Msg) []*dns.Msg) *scripted {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{pc: pc, script: script}
	done := make(chan struct{})
	go s.serve(done)
	t.Cleanup(func() { pc.Close(); <-done })
	return s
}

func (s *scripted) addr() string { return s.pc.LocalAddr().String() }

func (s *scripted) serve(done chan struct{}) {
	defer close(done)
	buf := make([]byte, dns.MaxMsgSize)
	for {
		n, from, err := s.pc.ReadFrom(buf)
		if err != nil {
			return
		}
		q := new(dns.Msg)
		if q.Unpack(buf[:n]) != nil {
			continue
		}
		s.mu.Lock()
		i, script := len(s.from), s.script
		s.from = append(s.from, from.String())
		s.queries = append(s.queries, q)
		s.addrs = append(s.addrs, from)
		s.mu.Unlock()
		for _, m := range script(i, q) {
			b, err := m.Pack()
			if err != nil {
				panic(err)
			}
			_, _ = s.pc.WriteTo(b, from)
		}
	}
}

// sources returns the address each query came from, in order.
func (s *scripted) sources() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.from...)
}

// query returns the n-th query received.
func (s *scripted) query(n int) *dns.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.queries[n]
}

// replyA is the reply to q with one A record of ip.
func replyA(q *dns.Msg, ip string) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA,
		Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
	return m
}

// allowAny is a Handler that forwards every name not intercepted.
func allowAny(upstream string, timeout time.Duration) *Handler {
	return NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: upstream, Timeout: timeout})
}

// answerA is the one A address in m, or "".
func answerA(m *dns.Msg) string {
	if len(m.Answer) != 1 {
		return ""
	}
	if a, ok := m.Answer[0].(*dns.A); ok {
		return a.A.String()
	}
	return ""
}

// TestForwardDropsDatagramsThatAreNotTheReply: whatever precedes the
// reply on the socket, the client gets the reply to its own question.
func TestForwardDropsDatagramsThatAreNotTheReply(t *testing.T) {
	tests := []struct {
		name   string
		before func(q *dns.Msg) *dns.Msg // sent ahead of the real reply
	}{
		{"another ID", func(q *dns.Msg) *dns.Msg {
			m := replyA(q, "203.0.113.66")
			m.Id = q.Id + 1
			return m
		}},
		{"our ID, another name", func(q *dns.Msg) *dns.Msg {
			m := replyA(q, "203.0.113.66")
			m.Question[0].Name = "api.example.com."
			m.Answer[0].Header().Name = "api.example.com."
			return m
		}},
		{"our ID, another type", func(q *dns.Msg) *dns.Msg {
			m := replyA(q, "203.0.113.66")
			m.Question[0].Qtype = dns.TypeMX
			return m
		}},
		{"our ID, two questions", func(q *dns.Msg) *dns.Msg {
			m := replyA(q, "203.0.113.66")
			m.Question = append(m.Question, dns.Question{Name: "x.example.", Qtype: dns.TypeA, Qclass: dns.ClassINET})
			return m
		}},
		{"our ID, not a response", func(q *dns.Msg) *dns.Msg {
			m := replyA(q, "203.0.113.66")
			m.Response = false
			return m
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := startScripted(t, func(_ int, q *dns.Msg) []*dns.Msg {
				return []*dns.Msg{tt.before(q), replyA(q, "192.0.2.1")}
			})
			w := &recorder{}
			allowAny(up.addr(), 0).ServeDNS(w, query("www.example.net", dns.TypeA, 1232))
			got := w.reply(t)
			if a := answerA(got); got.Rcode != dns.RcodeSuccess || a != "192.0.2.1" {
				t.Errorf("rcode %s answer %q, want the real reply's 192.0.2.1", dns.RcodeToString[got.Rcode], a)
			}
		})
	}
}

// TestForwardReusesSocket: queries one after another go out on one socket,
// and a late copy of an earlier reply that arrives on it is not taken for
// the reply to a later query, even for the same question.
func TestForwardReusesSocket(t *testing.T) {
	up := startScripted(t, func(n int, q *dns.Msg) []*dns.Msg {
		if n == 0 {
			return []*dns.Msg{replyA(q, "192.0.2.100")}
		}
		return nil // answered below, once the stale copy is queued
	})
	h := allowAny(up.addr(), 0)

	w := &recorder{}
	h.ServeDNS(w, query("www.example.net", dns.TypeA, 0))
	if a := answerA(w.reply(t)); a != "192.0.2.100" {
		t.Fatalf("first answer %q, want 192.0.2.100", a)
	}

	// From now on the upstream first repeats the reply to query 0, as a
	// duplicated or very late datagram would, then answers.
	first := up.query(0)
	up.mu.Lock()
	up.script = func(n int, q *dns.Msg) []*dns.Msg {
		var out []*dns.Msg
		if q.Id != first.Id { // equal IDs, one chance in 65536, would make the copy a valid reply
			out = append(out, replyA(first, "192.0.2.100"))
		}
		return append(out, replyA(q, "192.0.2."+string(rune('0'+n))))
	}
	up.mu.Unlock()
	for n := 1; n <= 5; n++ {
		w := &recorder{}
		h.ServeDNS(w, query("www.example.net", dns.TypeA, 0))
		if a, want := answerA(w.reply(t)), "192.0.2."+string(rune('0'+n)); a != want {
			t.Errorf("query %d: answer %q, want %q", n, a, want)
		}
	}
	src := up.sources()
	for i, s := range src {
		if s != src[0] {
			t.Errorf("query %d came from %s, query 0 from %s: want one socket reused", i, s, src[0])
		}
	}
	ids := map[uint16]bool{}
	for i := range src {
		ids[up.query(i).Id] = true
	}
	if len(ids) < 2 {
		t.Errorf("upstream saw IDs %v: want a fresh random ID per query", ids)
	}
}

// TestForwardTimeoutRetiresSocket: after a timeout the socket is closed, so
// the late reply cannot reach the next query, which goes out on another.
func TestForwardTimeoutRetiresSocket(t *testing.T) {
	up := startScripted(t, func(n int, q *dns.Msg) []*dns.Msg {
		if n == 0 {
			return nil // never answered in time
		}
		return []*dns.Msg{replyA(q, "192.0.2.1")}
	})
	h := allowAny(up.addr(), 300*time.Millisecond)

	w := &recorder{}
	h.ServeDNS(w, query("slow.example.net", dns.TypeA, 1232))
	got := w.reply(t)
	if e, ok := ede(got); got.Rcode != dns.RcodeServerFailure || !ok || !strings.HasPrefix(e.ExtraText, "upstream "+up.addr()+": ") {
		t.Fatalf("rcode %s EDE %v, want SERVFAIL naming upstream %s", dns.RcodeToString[got.Rcode], e, up.addr())
	}

	// The late reply, sent where the timed-out query came from.
	late, _ := replyA(up.query(0), "203.0.113.66").Pack()
	up.mu.Lock()
	_, _ = up.pc.WriteTo(late, up.addrs[0])
	up.mu.Unlock()

	w = &recorder{}
	h.ServeDNS(w, query("slow.example.net", dns.TypeA, 1232))
	if a := answerA(w.reply(t)); a != "192.0.2.1" {
		t.Errorf("answer %q, want 192.0.2.1", a)
	}
	if src := up.sources(); len(src) != 2 || src[0] == src[1] {
		t.Errorf("queries came from %v, want two sockets", src)
	}
}

// TestForwardUpstreamDownThenUp: every query to a dead upstream is a
// SERVFAIL naming it, and no broken socket is kept: once the upstream is
// up, queries are answered.
func TestForwardUpstreamDownThenUp(t *testing.T) {
	dead := deadUpstream(t)
	h := allowAny(dead, 500*time.Millisecond)
	for i := range 3 {
		w := &recorder{}
		h.ServeDNS(w, query("www.example.net", dns.TypeA, 1232))
		got := w.reply(t)
		e, ok := ede(got)
		if got.Rcode != dns.RcodeServerFailure || !ok || e.InfoCode != dns.ExtendedErrorCodeNetworkError ||
			!strings.HasPrefix(e.ExtraText, "upstream "+dead+": ") {
			t.Errorf("query %d: rcode %s EDE %+v, want SERVFAIL, code 23 naming upstream %s", i, dns.RcodeToString[got.Rcode], e, dead)
		}
	}

	pc, err := net.ListenPacket("udp", dead)
	if err != nil {
		t.Skipf("cannot rebind %s: %v", dead, err)
	}
	defer pc.Close()
	go func() {
		buf := make([]byte, dns.MaxMsgSize)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := new(dns.Msg)
			if q.Unpack(buf[:n]) == nil {
				b, _ := replyA(q, "192.0.2.1").Pack()
				_, _ = pc.WriteTo(b, from)
			}
		}
	}()
	w := &recorder{}
	h.ServeDNS(w, query("www.example.net", dns.TypeA, 1232))
	if got := w.reply(t); got.Rcode != dns.RcodeSuccess || answerA(got) != "192.0.2.1" {
		t.Errorf("after the upstream came up: rcode %s answer %q, want NOERROR 192.0.2.1", dns.RcodeToString[got.Rcode], answerA(got))
	}
}

// TestForwardConcurrentQueries: concurrent queries each get their own
// reply, and the sockets they opened serve the queries after them.
func TestForwardConcurrentQueries(t *testing.T) {
	up := startUpstream(t)
	h := forwardingHandler(up.addr)
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := "c" + string(rune('a'+i)) + ".svc.cluster.local."
			if i%2 == 0 {
				name = "nx." + name // NXDOMAIN from the upstream
			}
			w := &recorder{}
			h.ServeDNS(w, query(name, dns.TypeA, 1232))
			if w.err != nil || len(w.msgs) != 1 {
				errs <- name + ": no reply"
				return
			}
			got := w.msgs[0]
			want := dns.RcodeSuccess
			if i%2 == 0 {
				want = dns.RcodeNameError
			}
			if got.Rcode != want || got.Question[0].Name != name {
				errs <- name + ": reply to " + got.Question[0].Name + " " + dns.RcodeToString[got.Rcode]
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	h.fwd.udp.mu.Lock()
	idle := len(h.fwd.udp.idle)
	h.fwd.udp.mu.Unlock()
	if idle == 0 || idle > n {
		t.Errorf("%d idle sockets after %d concurrent queries, want 1..%d", idle, n, n)
	}
}

// TestForwardOversizedReplyTruncated: an upstream that ignores the
// client's size does not make the gateway send more than the client takes.
func TestForwardOversizedReplyTruncated(t *testing.T) {
	up := startScripted(t, func(_ int, q *dns.Msg) []*dns.Msg {
		m := replyA(q, "192.0.2.1")
		for i := range 60 {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(198, 51, 100, byte(i))})
		}
		return []*dns.Msg{m}
	})
	for _, udpSize := range []uint16{0, 700} {
		w := &recorder{}
		forwardingHandler(up.addr()).ServeDNS(w, query("big.svc.cluster.local", dns.TypeA, udpSize))
		got := w.reply(t)
		limit := max(int(udpSize), dns.MinMsgSize)
		if !got.Truncated || len(w.packed[0]) > limit || got.Rcode != dns.RcodeSuccess {
			t.Errorf("client size %d: truncated %v, %d bytes, rcode %s; want TC within %d bytes",
				udpSize, got.Truncated, len(w.packed[0]), dns.RcodeToString[got.Rcode], limit)
		}
	}
}

// TestForwardReplyFillingItsBuffer: a UDP reply that fills the buffer the
// client's size chose (it may have been cut there) is fetched again over
// TCP, and the client gets the whole answer cut to its size.
func TestForwardReplyFillingItsBuffer(t *testing.T) {
	var mu sync.Mutex
	var transports []string
	up := serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		mu.Lock()
		transports = append(transports, w.RemoteAddr().Network())
		mu.Unlock()
		m := replyA(r, "192.0.2.1")
		for i := range 250 { // about 9 KB, whatever the client's size
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA,
				Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(198, 51, 100, byte(i))})
		}
		_ = w.WriteMsg(m)
	}))
	w := &recorder{}
	forwardingHandler(up.Addr()).ServeDNS(w, query("big.svc.cluster.local", dns.TypeA, 1232))
	got := w.reply(t)
	if !got.Truncated || len(w.packed[0]) > 1232 || got.Rcode != dns.RcodeSuccess || len(got.Answer) == 0 {
		t.Errorf("truncated %v, %d bytes, rcode %s, %d answers; want TC with answers within 1232 bytes",
			got.Truncated, len(w.packed[0]), dns.RcodeToString[got.Rcode], len(got.Answer))
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(transports, ",") != "udp,tcp" {
		t.Errorf("upstream saw queries over %v, want udp then tcp", transports)
	}
}
