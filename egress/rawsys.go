package egress

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// The relay loop's system calls never block: every descriptor it touches
// is non-blocking and epoll_wait is called with a zero timeout. So they are
// made raw, without telling the scheduler a system call is under way.
// Through the usual entry, a call the kernel takes more than about 20 µs
// over (a write into loopback runs the receiver's side of TCP inline) lets
// sysmon hand the loop's P to another thread, which is woken for it, and
// the loop's thread then sleeps until it gets a P back: with one P, two
// context switches for nothing. Measured with the bench harness's
// passthrough loads, these hand-offs were most of egressgw's context
// switches (see BENCHMARKS.md).

func errnoErr(e unix.Errno) error {
	switch e {
	case 0:
		return nil
	case unix.EAGAIN:
		return unix.EAGAIN
	case unix.EINTR:
		return unix.EINTR
	}
	return e
}

func rawRead(fd int, p []byte) (int, error)  { return rawIO(unix.SYS_READ, fd, p) }
func rawWrite(fd int, p []byte) (int, error) { return rawIO(unix.SYS_WRITE, fd, p) }

// rawIO is read(2) or write(2), by trap.
func rawIO(trap uintptr, fd int, p []byte) (int, error) {
	var ptr unsafe.Pointer
	if len(p) > 0 {
		ptr = unsafe.Pointer(&p[0])
	}
	n, _, e := unix.RawSyscall(trap, uintptr(fd), uintptr(ptr), uintptr(len(p)))
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}

// rawSplice splices between descriptors at their current offsets.
func rawSplice(in, out, n int, flags int) (int64, error) {
	m, _, e := unix.RawSyscall6(unix.SYS_SPLICE, uintptr(in), 0, uintptr(out), 0, uintptr(n), uintptr(flags))
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int64(m), nil
}

// rawEpollPoll returns the events already pending on epfd, without waiting.
func rawEpollPoll(epfd int, events []unix.EpollEvent) (int, error) {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0, errnoErr(e)
	}
	return int(n), nil
}
