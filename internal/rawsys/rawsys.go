//go:build linux

// Package rawsys makes system calls that cannot block (on non-blocking
// descriptors, or epoll_wait with no timeout) without the runtime's system
// call entry. Through that entry, the first call after the process was
// idle wakes the runtime's monitor thread (sysmon), which then polls every
// 20 µs for a millisecond, and a call the kernel takes more than about
// 20 µs over (a write into loopback runs the receiver's TCP inline) lets
// sysmon hand the caller's P to another thread, woken for it, while the
// caller's thread sleeps until it gets a P back: with one P, context
// switches for nothing. Measured with the bench harness, they were most of
// egressgw's context switches on passthrough and DNS loads (see README,
// Performance).
//
// Errors are the unix.Errno, EAGAIN and EINTR included, for the caller to
// wait in Go's poller or retry.
package rawsys

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Read is read(2).
func Read(fd int, p []byte) (int, error) { return rw(unix.SYS_READ, fd, p) }

// Write is write(2).
func Write(fd int, p []byte) (int, error) { return rw(unix.SYS_WRITE, fd, p) }

func rw(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// Splice is splice(2) between descriptors at their current offsets.
func Splice(in, out, n, flags int) (int64, error) {
	m, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), uintptr(flags))
	if e != 0 {
		return 0, e
	}
	return int64(m), nil
}

// EpollPoll returns the events already pending on epfd, without waiting.
func EpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
