package egress

import (
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// Accepted connections keep TCP keep-alive on, with Go's default timings,
// though it is set on the listening socket only.
func TestListenTCPKeepAliveInherited(t *testing.T) {
	ln, err := listenTCP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ac, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	defer ac.Close()
	rc, err := ac.SyscallConn()
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
	ln, err := listenTCP(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	accepted, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*net.TCPConn{"dialled": dialed.(*net.TCPConn), "accepted": accepted} {
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
