//go:build linux

package rawsys

import (
	"testing"

	"golang.org/x/sys/unix"
)

func pipe(t *testing.T) (r, w int) {
	t.Helper()
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Close(fds[0]); _ = unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// Each call does what its system call does, and says EAGAIN as the Errno.
func TestCalls(t *testing.T) {
	r1, w1 := pipe(t)
	r2, w2 := pipe(t)
	buf := make([]byte, 16)
	if _, err := Read(r1, buf); err != unix.EAGAIN {
		t.Fatalf("read of an empty pipe: %v, want EAGAIN", err)
	}
	if n, err := Write(w1, []byte("hello")); n != 5 || err != nil {
		t.Fatalf("write: %d, %v", n, err)
	}
	if n, err := Splice(r1, w2, 16, unix.SPLICE_F_NONBLOCK); n != 5 || err != nil {
		t.Fatalf("splice: %d, %v", n, err)
	}
	if n, err := Read(r2, buf); n != 5 || err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read: %q, %v", buf[:n], err)
	}
	if _, err := Write(-1, buf); err != unix.EBADF {
		t.Fatalf("write to -1: %v, want EBADF", err)
	}

	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ep)
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, r1, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(r1)}); err != nil {
		t.Fatal(err)
	}
	events := make([]unix.EpollEvent, 4)
	if n, err := EpollPoll(ep, events); n != 0 || err != nil {
		t.Fatalf("poll with nothing pending: %d, %v", n, err)
	}
	if _, err := Write(w1, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if n, err := EpollPoll(ep, events); n != 1 || err != nil || int(events[0].Fd) != r1 {
		t.Fatalf("poll with input pending: %d, %v, %+v", n, err, events[0])
	}
}
