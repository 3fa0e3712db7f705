//go:build unix

package peek

import (
	"errors"
	"syscall"
)

// FD looks at the socket fd.
func FD(fd uintptr) State {
	var b [1]byte
	n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	switch {
	case err == nil && n > 0, errors.Is(err, syscall.EINTR):
		return Ready
	case errors.Is(err, syscall.EAGAIN):
		return Empty
	}
	return Closed // n == 0: end of stream; any other error
}

// Conn looks at c's socket, through its RawConn so the descriptor stays
// valid. It looks whatever read deadline c has: RawConn.Control, unlike
// RawConn.Read, does not fail once a deadline has passed, and a deadline
// that bounded an earlier wait (a new connection's first bytes, a
// kept-alive connection's next request) says nothing about whether the
// peer is still there.
func Conn(c syscall.Conn) State {
	sc, err := c.SyscallConn()
	if err != nil {
		return Closed
	}
	st := Closed
	if err := sc.Control(func(fd uintptr) { st = FD(fd) }); err != nil {
		return Closed
	}
	return st
}
