package dnsproxy

import (
	"context"
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// With one P and a goroutine that never waits, a goroutine woken by the
// poller runs only once the busy one yields: two yields (the first may
// wake the yielder ahead of it) let it run. runtime.Gosched would not:
// the scheduler polls only when it has nothing else to run.
func TestYieldRunsGoroutinesTheyPollerWoke(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	y, err := newYielder()
	if err != nil {
		t.Fatal(err)
	}
	defer y.close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	c, err := net.Dial("udp", pc.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	var ran atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 16)
		_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := pc.ReadFrom(buf); err == nil {
			ran.Store(true)
		}
	}()
	runtime.Gosched() // the reader runs until it waits in the poller
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	// From here this goroutine waits only in yield.
	y.yield()
	y.yield()
	if !ran.Load() {
		t.Fatal("the goroutine whose socket became ready did not run across two yields")
	}
	<-done
}

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
	if got := s.yield.yields.Load(); got < n/yieldAfter-1 {
		t.Errorf("the loop yielded %d times reading %d queries in a row, want at least %d", got, n, n/yieldAfter-1)
	}
}
