//go:build linux

package egress

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// Accepted connections keep TCP keep-alive on, with Go's default timings,
// though it is set on the listening socket only.
func TestListenTCPKeepAliveInherited(t *testing.T) {
	c, accepted := tcpPair(t)
	defer c.Close()
	defer accepted.Close()
	rc, err := accepted.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range clientKeepAlive {
		var got int
		var gerr error
		if err := rc.Control(func(fd uintptr) { got, gerr = unix.GetsockoptInt(int(fd), o.level, o.opt) }); err != nil {
			t.Fatal(err)
		}
		if gerr != nil {
			t.Fatalf("getsockopt(%d, %d): %v", o.level, o.opt, gerr)
		}
		if got != o.val {
			t.Errorf("accepted connection: option %d/%d is %d, want %d", o.level, o.opt, got, o.val)
		}
	}
}

// The relay loop relies on detached descriptors being non-blocking, which
// detach no longer sets itself: both kinds of socket it gets must be.
func TestDetachedSocketsNonBlocking(t *testing.T) {
	dialed, accepted := tcpPair(t)
	for name, c := range map[string]*net.TCPConn{"dialled": dialed, "accepted": accepted} {
		fd, err := detach(c)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
		fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
		_ = unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		if fl&unix.O_NONBLOCK == 0 {
			t.Errorf("%s socket: detached descriptor is blocking", name)
		}
	}
}
