package dnsproxy

import (
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

func TestForwardLimit(t *testing.T) {
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("fd00::2")
	tests := []struct {
		name           string
		max, perSource int
		from           []netip.Addr // acquired in order, none released
		want           []overLimit
	}{
		{"within both", 4, 2, []netip.Addr{a, b, a, b}, []overLimit{withinLimit, withinLimit, withinLimit, withinLimit}},
		{"over the share", 4, 2, []netip.Addr{a, a, a, b}, []overLimit{withinLimit, withinLimit, overSource, withinLimit}},
		{"over the whole", 3, 2, []netip.Addr{a, b, a, b}, []overLimit{withinLimit, withinLimit, withinLimit, overGlobal}},
		{"over both", 2, 1, []netip.Addr{a, a, b, a}, []overLimit{withinLimit, overSource, withinLimit, overGlobal}},
		{"an IPv4-mapped address is its IPv4 source", 4, 1, []netip.Addr{a, netip.AddrFrom16(a.As16())}, []overLimit{withinLimit, overSource}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newForwardLimit(tt.max, tt.perSource)
			for i, src := range tt.from {
				if _, got := l.acquire(src); got != tt.want[i] {
					t.Errorf("query %d from %s: %d, want %d", i, src, got, tt.want[i])
				}
			}
		})
	}
}

func TestForwardLimitDefaults(t *testing.T) {
	tests := []struct{ max, perSource, wantMax, wantPerSource int32 }{
		{0, 0, DefaultForwardMax, DefaultForwardMaxPerSource},
		{100, 0, 100, 100},
		{2, 5, 2, 2},
		{10, 3, 10, 3},
	}
	for _, tt := range tests {
		l := newForwardLimit(int(tt.max), int(tt.perSource))
		if l.max != tt.wantMax || l.perSource != tt.wantPerSource {
			t.Errorf("newForwardLimit(%d, %d): %d and %d, want %d and %d", tt.max, tt.perSource, l.max, l.perSource, tt.wantMax, tt.wantPerSource)
		}
	}
}

// A place given back can be taken again, and a refused query holds none.
func TestForwardLimitRelease(t *testing.T) {
	src := netip.MustParseAddr("10.0.0.1")
	l := newForwardLimit(2, 1)
	t1, over := l.acquire(src)
	if over != withinLimit {
		t.Fatalf("first query refused: %d", over)
	}
	for range 3 {
		if _, over := l.acquire(src); over != overSource {
			t.Fatalf("second query in flight: %d, want over the share", over)
		}
	}
	l.release(t1)
	if _, over := l.acquire(src); over != withinLimit {
		t.Fatalf("after release: %d, want admitted", over)
	}
	if got := l.inflight.Load(); got != 1 {
		t.Errorf("%d in flight, want 1", got)
	}
}

// Taking and giving back a place allocates nothing, nor does finding the
// source of a query of our UDP loop, or of miekg's TCP server.
func TestForwardLimitAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l := newForwardLimit(0, 0)
	udp := &udpWriter{to: netip.MustParseAddrPort("10.1.2.3:40000")}
	tcp := &tcpWriter{addr: &net.TCPAddr{IP: net.IPv4(10, 1, 2, 4), Port: 40000}}
	if n := testing.AllocsPerRun(100, func() {
		for _, w := range []dns.ResponseWriter{udp, tcp} {
			tk, over := l.acquire(source(w))
			if over != withinLimit {
				t.Fatal("refused")
			}
			l.release(tk)
		}
	}); n != 0 {
		t.Errorf("%.1f allocations per acquire and release, want 0", n)
	}
}

// tcpWriter stands for the writer of miekg's TCP server, whose
// RemoteAddr is the connection's, made once.
type tcpWriter struct {
	packWriter
	addr *net.TCPAddr
}

func (w *tcpWriter) RemoteAddr() net.Addr { return w.addr }

// silentUpstream is a UDP socket on 127.0.0.1 that reads queries and never
// answers; arrived counts them.
type silentUpstream struct {
	pc      net.PacketConn
	arrived chan struct{}
}

func startSilent(t *testing.T) *silentUpstream {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silentUpstream{pc: pc, arrived: make(chan struct{}, 1<<16)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, dns.MaxMsgSize)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			s.arrived <- struct{}{}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return s
}

// wait waits until n more queries have arrived.
func (s *silentUpstream) wait(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for i := range n {
		select {
		case <-s.arrived:
		case <-timeout:
			t.Fatalf("%d queries reached the upstream, want %d", i, n)
		}
	}
}

// dnsClient is a UDP client socket bound to addr.
type dnsClient struct {
	t *testing.T
	c *net.UDPConn
}

func newDNSClient(t *testing.T, local, server string) *dnsClient {
	t.Helper()
	la, err := net.ResolveUDPAddr("udp", local)
	if err != nil {
		t.Fatal(err)
	}
	ra, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialUDP("udp", la, ra)
	if err != nil {
		t.Skipf("no client socket on %s here: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	return &dnsClient{t: t, c: c}
}

func (c *dnsClient) send(m *dns.Msg) {
	c.t.Helper()
	b, err := m.Pack()
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := c.c.Write(b); err != nil {
		c.t.Fatal(err)
	}
}

// recv returns the next reply, or nil if none comes within wait.
func (c *dnsClient) recv(wait time.Duration) *dns.Msg {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, dns.MaxMsgSize)
	n, err := c.c.Read(buf)
	if err != nil {
		return nil
	}
	m := new(dns.Msg)
	if err := m.Unpack(buf[:n]); err != nil {
		c.t.Fatal(err)
	}
	return m
}

// wantLimited fails unless m is the SERVFAIL of a query over the bound
// named by flag.
func wantLimited(t *testing.T, m *dns.Msg, flag string) {
	t.Helper()
	if m == nil {
		t.Fatal("no answer, want SERVFAIL for a query over the limit")
	}
	e, ok := ede(m)
	if m.Rcode != dns.RcodeServerFailure || !ok || e.InfoCode != dns.ExtendedErrorCodeOther ||
		!strings.Contains(e.ExtraText, flag+")") {
		t.Fatalf("got %s with EDE %v, want SERVFAIL with the EDE Other naming %s", dns.RcodeToString[m.Rcode], e, flag)
	}
}

const floodTimeout = 4 * time.Second // forwarded queries stay in flight this long; under the shutdown's 5 s

// A flood of unique names from one client to a silent upstream: the first
// max are forwarded and wait; every one after gets SERVFAIL at once, with
// the EDE naming the flag, counted; the goroutines stay bounded; and an
// intercepted name is still answered.
func TestForwardLimitFloodToSilentUpstream(t *testing.T) {
	const max, flood = 16, 200
	up := startSilent(t)
	metrics := NewMetrics(prometheus.NewRegistry())
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: up.pc.LocalAddr().String(),
		Timeout: floodTimeout, ForwardMax: max, ForwardMaxPerSource: max, Metrics: metrics})
	s := serve(t, h)
	c := newDNSClient(t, "127.0.0.1:0", s.Addr())
	goroutines := runtime.NumGoroutine()

	for i := range max {
		c.send(query(fmt.Sprintf("n%d.example.com", i), dns.TypeA, 1232))
	}
	up.wait(t, max)
	peak := runtime.NumGoroutine()
	for i := max; i < flood; i++ {
		c.send(query(fmt.Sprintf("n%d.example.com", i), dns.TypeA, 1232))
		peak = runtime.NumGoroutine()
	}
	for range flood - max {
		wantLimited(t, c.recv(2*time.Second), "--dns-forward-max")
	}
	if extra := peak - goroutines; extra > max+8 {
		t.Errorf("%d goroutines more during the flood, want about %d (one per query forwarded)", extra, max)
	}
	c.send(query("api.example.com", dns.TypeA, 1232))
	if got := c.recv(2 * time.Second); got == nil || answerA(got) != egress4.String() {
		t.Errorf("intercepted name during the flood: %v, want the egress address", got)
	}
	if got := counterValue(t, metrics.limitedBy[overGlobal]); got != flood-max {
		t.Errorf("forward_limited_total{limit=global} = %v, want %d", got, flood-max)
	}
	if got := counterValue(t, metrics.queries[outcomeForwardLimited]); got != flood-max {
		t.Errorf("queries_total{outcome=forward_limited} = %v, want %d", got, flood-max)
	}
	select {
	case <-up.arrived:
		t.Error("a query over the limit reached the upstream")
	default:
	}
}

// A client at its share gets SERVFAIL naming the per-source flag, while
// another client's queries are still forwarded.
func TestForwardLimitPerSource(t *testing.T) {
	t.Parallel()
	const share = 4
	up := startSilent(t)
	metrics := NewMetrics(prometheus.NewRegistry())
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: up.pc.LocalAddr().String(),
		Timeout: floodTimeout, ForwardMax: 64, ForwardMaxPerSource: share, Metrics: metrics})
	s := serve(t, h)
	first := newDNSClient(t, "127.0.0.1:0", s.Addr())
	second := newDNSClient(t, "127.0.0.2:0", s.Addr())

	for i := range share {
		first.send(query(fmt.Sprintf("a%d.example.com", i), dns.TypeA, 1232))
	}
	up.wait(t, share)
	first.send(query("over.example.com", dns.TypeA, 1232))
	wantLimited(t, first.recv(2*time.Second), "--dns-forward-max-per-source")

	second.send(query("b.example.com", dns.TypeA, 1232))
	up.wait(t, 1)
	if got := second.recv(100 * time.Millisecond); got != nil {
		t.Errorf("the second client got %s, want its query forwarded (and the silent upstream's timeout)", dns.RcodeToString[got.Rcode])
	}
	if got := counterValue(t, metrics.limitedBy[overSource]); got != 1 {
		t.Errorf("forward_limited_total{limit=source} = %v, want 1", got)
	}
}

// TCP queries count against the limit too.
func TestForwardLimitTCP(t *testing.T) {
	t.Parallel()
	up := startSilent(t)
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: up.pc.LocalAddr().String(),
		Timeout: floodTimeout, ForwardMax: 1})
	s := serve(t, h)
	c := newDNSClient(t, "127.0.0.1:0", s.Addr())
	c.send(query("a.example.com", dns.TypeA, 1232))
	up.wait(t, 1)
	tc := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	got, _, err := tc.Exchange(query("b.example.com", dns.TypeA, 1232), s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	wantLimited(t, got, "--dns-forward-max")
}
