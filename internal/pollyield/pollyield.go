//go:build linux

// Package pollyield lets a goroutine that never waits give Go's network
// poller its turn.
//
// Go's scheduler polls the network only when it has nothing else to run
// (or every 10 ms, from its monitor thread). A loop that always finds more
// work (the DNS query loop under load) never waits, so the goroutines
// parked on other sockets are woken only every 10 ms, whatever arrived for
// them: at DNS saturation the p99 of forwarded names, whose goroutines wait
// on their upstream socket, was 9-10 ms while locally answered names stayed
// under 4. (The passthrough relay loop, tried with it too, turned out to
// wait often enough by itself: its destinations fill.)
//
// A Yielder gives the poller its turn: the loop posts an eventfd it waits
// on in the poller, and sleeps. The scheduler runs what is runnable, then
// polls, which wakes the loop together with every goroutine whose socket
// became ready meanwhile, as an event loop's poll(2) serves all ready
// descriptors in one round. The event is posted after the wait is armed,
// so it cannot be missed, and no timer is needed.
package pollyield

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/egressgw/egressgw/internal/rawsys"
)

// Yielder is one loop's way to yield to the poller. One goroutine uses it
// at a time.
type Yielder struct {
	f      *os.File
	rc     syscall.RawConn
	posted bool
	yields atomic.Int64
	one    [8]byte
	waitf  func(fd uintptr) bool
}

// New returns a Yielder, which holds an eventfd until Close.
func New() (*Yielder, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "pollyield-eventfd") // non-blocking: registered with the poller
	rc, err := f.SyscallConn()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	y := &Yielder{f: f, rc: rc}
	binary.NativeEndian.PutUint64(y.one[:], 1)
	y.waitf = y.wait
	return y, nil
}

// Yield lets every goroutine that is runnable, or whose descriptor is
// ready, run once (two calls in a row guarantee it: the poller may wake
// the caller ahead of the others), then returns.
func (y *Yielder) Yield() {
	y.posted = false
	y.yields.Add(1)
	_ = y.rc.Read(y.waitf) // fails only once closed: then there is nothing to wait for
}

func (y *Yielder) wait(fd uintptr) bool {
	if !y.posted {
		y.posted = true
		_, _ = rawsys.Write(int(fd), y.one[:]) // cannot fail short of a counter at 2^64-1
		return false
	}
	var n [8]byte
	_, _ = rawsys.Read(int(fd), n[:]) // reset the counter; each post raises a new edge anyway
	return true
}

// Yields is how many times Yield was called, for tests.
func (y *Yielder) Yields() int64 { return y.yields.Load() }

// Close releases the eventfd.
func (y *Yielder) Close() error { return y.f.Close() }
