package origination

import (
	"fmt"
	"runtime/debug"
	"time"

	"golang.org/x/net/http2"
)

// PanicError is what the streams of a connection get when one of its
// shared loops (the reader, which dispatches frames, or the writer)
// panicked: the connection is failed, and the process serves on.
type PanicError struct {
	Loop  string // "read" or "write"
	Value any    // what was recovered
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error in egressgw's HTTP/2 %s loop (connection failed): %v", e.Loop, e.Value)
}

// h2Hooks are a pool's test hooks (H2Pool.hooks, nil but in tests, set
// before the pool's first connection): dispatch is called with each frame
// read before it is dispatched, write before each write.
type h2Hooks struct {
	dispatch func(http2.Frame)
	write    func()
}

// recoverLoop, deferred by a loop, turns its panic into the failure of
// the connection and tells the pool's OnPanic.
//
// The loop may have panicked holding c.mu or c.wmu, which no one would
// ever release: the pool is made to forget the connection first, so no
// new request goes to it, and the rest is done on a goroutine of its own
// with a bounded wait, so the loop's goroutine always ends.
func (c *H2Conn) recoverLoop(loop string) {
	v := recover()
	if v == nil {
		return
	}
	err := &PanicError{Loop: loop, Value: v, Stack: debug.Stack()}
	c.pool.forget(c)
	if f := c.pool.onPanic; f != nil {
		f(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.goAwayAndFail(http2.ErrCodeInternal, err)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		// A lock stays held by the panicked frame: close the socket
		// at least, so that the upstream's side ends.
		_ = c.conn.Close()
	}
}
