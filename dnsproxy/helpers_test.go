package dnsproxy

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// recorder is a dns.ResponseWriter that keeps what was written, after a
// round trip through the wire format so that unpackable replies fail.
type recorder struct {
	tcp    bool
	msgs   []*dns.Msg
	packed [][]byte
	err    error // first pack or unpack error
}

func (w *recorder) LocalAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 53}
	}
	return &net.UDPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 53}
}

func (w *recorder) RemoteAddr() net.Addr {
	if w.tcp {
		return &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}
	}
	return &net.UDPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}
}

func (w *recorder) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		w.err = err
		return err
	}
	return w.record(b)
}

// Write records a copy: a writer must not keep b (io.Writer), which the
// handler may reuse.
func (w *recorder) Write(b []byte) (int, error) { return len(b), w.record(append([]byte(nil), b...)) }

func (w *recorder) record(b []byte) error {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		w.err = err
		return err
	}
	w.msgs = append(w.msgs, m)
	w.packed = append(w.packed, b)
	return nil
}

func (w *recorder) Close() error        { return nil }
func (w *recorder) TsigStatus() error   { return nil }
func (w *recorder) TsigTimersOnly(bool) {}
func (w *recorder) Hijack()             {}
func (w *recorder) Network() string {
	if w.tcp {
		return "tcp"
	}
	return "udp"
}

// reply is the one message written, failing the test otherwise.
func (w *recorder) reply(t testing.TB) *dns.Msg {
	t.Helper()
	if w.err != nil {
		t.Fatalf("reply does not pack: %v", w.err)
	}
	if len(w.msgs) != 1 {
		t.Fatalf("got %d replies, want 1", len(w.msgs))
	}
	return w.msgs[0]
}

// fakeNames intercepts exact names and, for "*.zone" entries, every name
// below zone. Names are lower case without the trailing dot.
type fakeNames []string

func (f fakeNames) Intercepts(name string) bool {
	name = strings.TrimSuffix(name, ".")
	for _, n := range f {
		if zone, ok := strings.CutPrefix(n, "*."); ok {
			if len(name) > len(zone) && strings.EqualFold(name[len(name)-len(zone):], zone) &&
				name[len(name)-len(zone)-1] == '.' {
				return true
			}
		} else if strings.EqualFold(name, n) {
			return true
		}
	}
	return false
}

var testNames = fakeNames{"api.example.com", "*.wild.example.org", "ext.default.svc.cluster.local"}

func namesFunc(n Names) func() Names { return func() Names { return n } }

// query builds a query; udpSize > 0 adds an OPT record advertising it.
func query(name string, qtype uint16, udpSize uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	if udpSize > 0 {
		m.SetEdns0(udpSize, false)
	}
	return m
}

// ede returns the Extended DNS Error in m, if any.
func ede(m *dns.Msg) (*dns.EDNS0_EDE, bool) {
	opt := m.IsEdns0()
	if opt == nil {
		return nil, false
	}
	for _, o := range opt.Option {
		if e, ok := o.(*dns.EDNS0_EDE); ok {
			return e, true
		}
	}
	return nil, false
}

// seen is one query as the fake upstream received it.
type seen struct {
	tcp     bool
	name    string
	qtype   uint16
	id      uint16
	edns    bool
	udpSize uint16
}

// upstream is a real miekg DNS server on 127.0.0.1, UDP and TCP, that
// answers every A query with 192.0.2.1 (or, for names starting "big.",
// with 60 addresses, truncating UDP replies at 512 bytes whatever the
// client advertised), "nx." names with NXDOMAIN, "nodata." names with
// nothing, and AAAA for "v6." names.
type upstream struct {
	addr string

	mu    sync.Mutex
	ttl   uint32        // guarded by mu
	hold  chan struct{} // guarded by mu; if set, every query waits for it to close
	seen  []seen
	first chan struct{} // closed on the first query
	once  sync.Once
}

func startUpstream(t testing.TB) *upstream {
	t.Helper()
	u := &upstream{ttl: 60, first: make(chan struct{})}
	u.addr = serve(t, dns.HandlerFunc(u.serve)).Addr()
	return u
}

func (u *upstream) serve(w dns.ResponseWriter, r *dns.Msg) {
	q := r.Question[0]
	s := seen{name: q.Name, qtype: q.Qtype, id: r.Id}
	_, s.tcp = w.RemoteAddr().(*net.TCPAddr)
	if opt := r.IsEdns0(); opt != nil {
		s.edns, s.udpSize = true, opt.UDPSize()
	}
	u.mu.Lock()
	u.seen = append(u.seen, s)
	ttl, hold := u.ttl, u.hold
	u.mu.Unlock()
	u.once.Do(func() { close(u.first) })
	if hold != nil {
		<-hold
	}

	m := new(dns.Msg)
	m.SetReply(r)
	m.RecursionAvailable = true
	name := strings.ToLower(q.Name)
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	}
	switch {
	case strings.HasPrefix(name, "nx."):
		m.Rcode = dns.RcodeNameError
	case strings.HasPrefix(name, "nodata."):
	case q.Qtype == dns.TypeA && strings.HasPrefix(name, "big."):
		for i := range 60 {
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(198, 51, 100, byte(i))})
		}
	case q.Qtype == dns.TypeA:
		m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(192, 0, 2, 1)})
	case q.Qtype == dns.TypeAAAA && strings.HasPrefix(name, "v6."):
		m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: net.ParseIP("2001:db8::1")})
	}
	if s.edns {
		m.SetEdns0(4096, false)
	}
	if !s.tcp {
		m.Truncate(dns.MinMsgSize)
	}
	_ = w.WriteMsg(m)
}

// set changes the upstream's behaviour under its lock.
func (u *upstream) set(f func(*upstream)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	f(u)
}

// queries returns what the upstream has seen so far.
func (u *upstream) queries() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.seen...)
}

// deadUpstream is a 127.0.0.1 address where nothing listens.
func deadUpstream(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}

var (
	egress4 = netip.MustParseAddr("10.96.0.10")
	egress6 = netip.MustParseAddr("fd00::10")
)

// stdlibInTests makes serve's servers answer UDP with miekg's server
// (Server.Stdlib); TestServerStdlib sets it.
var stdlibInTests bool

// serve starts a Server for h on a free loopback port, shut down (and its
// shutdown checked) when the test ends.
func serve(t testing.TB, h dns.Handler) *Server {
	t.Helper()
	s := NewServer("127.0.0.1:0", h)
	s.Stdlib = stdlibInTests
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}
