//go:build linux

package pollyield

import (
	"net"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// With one P and a goroutine that never waits, a goroutine woken by the
// poller runs only once the busy one yields: two yields (the first may
// wake the yielder ahead of it) let it run. runtime.Gosched would not:
// the scheduler polls only when it has nothing else to run.
func TestYieldRunsWhatThePollerWoke(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	y, err := New()
	if err != nil {
		t.Fatal(err)
	}
	defer y.Close()
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
	y.Yield()
	y.Yield()
	if !ran.Load() {
		t.Fatal("the goroutine whose socket became ready did not run across two yields")
	}
	<-done
}
