package balance

import (
	"net/netip"
	"testing"
)

// BenchmarkPick is one request's work: Pick, Begin, End (a success), on a
// Set of 8 endpoints, with none and with one ejected.
func BenchmarkPick(b *testing.B) {
	for _, p := range []Policy{RoundRobin, LeastRequest, Random, ConsistentHash} {
		for _, ej := range []struct {
			name string
			n    int
		}{{"healthy", 0}, {"one-ejected", 1}} {
			b.Run(p.String()+"/"+ej.name, func(b *testing.B) {
				s := New(8, Config{Policy: p, Outlier: Outlier{Consecutive5xx: 5, MaxEjectionPercent: 50}})
				for i := range ej.n {
					fail(s, i, 5)
				}
				key := HashString("user-1")
				b.ReportAllocs()
				for b.Loop() {
					i := s.Pick(key)
					s.Begin(i)
					s.End(i, Outcome{Status: 200})
				}
			})
		}
	}
}

// BenchmarkPickParallel is BenchmarkPick from every P at once: the cost of
// the shared counters under contention.
func BenchmarkPickParallel(b *testing.B) {
	for _, p := range []Policy{RoundRobin, LeastRequest, Random, ConsistentHash} {
		b.Run(p.String(), func(b *testing.B) {
			s := New(8, Config{Policy: p, Outlier: Outlier{Consecutive5xx: 5, MaxEjectionPercent: 50}})
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				key := HashString("user-1")
				for pb.Next() {
					i := s.Pick(key)
					s.Begin(i)
					s.End(i, Outcome{Status: 200})
					key++
				}
			})
		})
	}
}

func BenchmarkHash(b *testing.B) {
	b.Run("HashString/32B", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = HashString("JSESSIONID-0123456789abcdef01234")
		}
	})
	b.Run("HashAddr", func(b *testing.B) {
		a := netip.MustParseAddr("10.1.2.3")
		b.ReportAllocs()
		for b.Loop() {
			_ = HashAddr(a)
		}
	})
}
