package dnsproxy

import (
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// packWriter packs every reply into one reused buffer, as dns.Server's
// writer does into its own, and keeps nothing.
type packWriter struct {
	buf []byte
	n   int
}

var benchAddr = &net.UDPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 40000}

func (w *packWriter) LocalAddr() net.Addr  { return benchAddr }
func (w *packWriter) RemoteAddr() net.Addr { return benchAddr }
func (w *packWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.PackBuffer(w.buf)
	w.n += len(b)
	return err
}
func (w *packWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *packWriter) Close() error                { return nil }
func (w *packWriter) TsigStatus() error           { return nil }
func (w *packWriter) TsigTimersOnly(bool)         {}
func (w *packWriter) Hijack()                     {}

func benchServe(b *testing.B, qname string, udpSize uint16) {
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: "127.0.0.1:1",
		BlockUnregistered: true, Log: zap.NewNop()})
	r := query(qname, dns.TypeA, udpSize)
	w := &packWriter{buf: make([]byte, 4096)}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(w, r)
	}
}

func BenchmarkInterceptedA(b *testing.B)      { benchServe(b, "api.example.com", 0) }
func BenchmarkInterceptedAEDNS0(b *testing.B) { benchServe(b, "x.wild.example.org", 1232) }
func BenchmarkBlocked(b *testing.B)           { benchServe(b, "blocked.example.net", 0) }
func BenchmarkBlockedEDNS0(b *testing.B)      { benchServe(b, "blocked.example.net", 1232) }

// BenchmarkForwardedA forwards over UDP to the fake upstream on loopback:
// the upstream's own work is in the figure, but so is every allocation the
// forwarding path makes.
func BenchmarkForwardedA(b *testing.B) {
	up := startUpstream(b)
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: up.addr, Log: zap.NewNop()})
	r := query("kubernetes.default.svc.cluster.local", dns.TypeA, 1232)
	w := &packWriter{buf: make([]byte, 4096)}
	b.ReportAllocs()
	for b.Loop() {
		h.ServeDNS(w, r)
	}
}

// BenchmarkForwardLimit takes and gives back a place in the forwarding
// limit from every P at once, each as a client of its own.
func BenchmarkForwardLimit(b *testing.B) {
	l := newForwardLimit(0, 0)
	var next atomic.Uint32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := &udpWriter{to: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(next.Add(1))}), 40000)}
		for pb.Next() {
			t, over := l.acquire(source(w))
			if over != withinLimit {
				b.Fatal("refused")
			}
			l.release(t)
		}
	})
}
