//go:build linux

package dnsproxy

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// A burst of queries, more than yieldAfter in a row, is answered in full,
// and the loop yields while it reads it: the yields lose no datagram and no
// wake-up. With one P the loop runs only once the burst is queued.
func TestServeUDPAnswersABurst(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	answer := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		_ = w.WriteMsg(new(dns.Msg).SetReply(r))
	})
	s := NewServer("127.0.0.1:0", answer)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	c, err := net.Dial("udp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const n = 4 * yieldAfter
	for i := range n {
		m := new(dns.Msg).SetQuestion("a.example.", dns.TypeA)
		m.Id = uint16(i)
		b, _ := m.Pack()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[uint16]bool)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for len(seen) < n {
		k, err := c.Read(buf)
		if err != nil {
			t.Fatalf("%d answers of %d: %v", len(seen), n, err)
		}
		m := new(dns.Msg)
		if err := m.Unpack(buf[:k]); err != nil {
			t.Fatal(err)
		}
		seen[m.Id] = true
	}
	if got := s.yield.Yields(); got < n/yieldAfter-1 {
		t.Errorf("the loop yielded %d times reading %d queries in a row, want at least %d", got, n, n/yieldAfter-1)
	}
}
