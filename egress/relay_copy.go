package egress

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// copyRelay relays connections the standard library's way: two goroutines
// per connection, each an io.Copy. It serves when the fast paths are off
// (--fast-paths=false), and stands in for the event loops when they could
// not start or have failed. It keeps the event loops' contract: the
// half-close is passed on, a connection no byte crossed for idle is closed
// ("idle_timeout"), and closing the relay closes every connection ("closed").
type copyRelay struct {
	mu     sync.Mutex
	conns  map[*copied]struct{} // guarded by mu
	closed bool                 // guarded by mu
}

// copied is one connection relayed by copyRelay.
type copied struct {
	sock   [2]*net.TCPConn // client, upstream
	idle   time.Duration
	last   atomic.Int64           // monotime of the last byte moved either way
	ended  atomic.Pointer[string] // the reason it was ended from outside its copies (idle, closed), first one wins
	total  [2]int64               // bytes delivered: 0 client to upstream, 1 upstream to client; each written by its copy only
	errs   [2]error
	done   func(relayResult)
	finish sync.WaitGroup
}

func (r *copyRelay) add(client, upstream *net.TCPConn, idle time.Duration, done func(relayResult)) {
	c := &copied{sock: [2]*net.TCPConn{client, upstream}, idle: idle, done: done}
	c.last.Store(monotime())
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		c.stop("closed")
		c.report()
		return
	}
	if r.conns == nil {
		r.conns = map[*copied]struct{}{}
	}
	r.conns[c] = struct{}{}
	r.mu.Unlock()
	c.finish.Add(2)
	go c.copy(0)
	go c.copy(1)
	go func() {
		c.finish.Wait()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		c.report()
	}()
}

// close ends every connection with reason "closed"; connections added
// later are closed at once.
func (r *copyRelay) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for c := range r.conns {
		c.stop("closed")
	}
}

// stop ends c from outside its copies, for reason.
func (c *copied) stop(reason string) {
	c.ended.CompareAndSwap(nil, &reason)
	for _, s := range c.sock {
		_ = s.Close()
	}
}

// copy moves direction d (0: client to upstream, 1: upstream to client)
// until its source ends, then passes the half-close on.
func (c *copied) copy(d int) {
	defer c.finish.Done()
	src, dst := c.sock[d], c.sock[1-d]
	n, err := io.Copy(sideWriter{dst, 1 - d}, &copyReader{c: c, src: src, side: d})
	c.total[d] = n
	if err != nil {
		c.errs[d] = err
		c.stop("") // the other direction cannot go on either
		return
	}
	_ = dst.CloseWrite()
}

// report closes both sockets and says why the connection ended.
func (c *copied) report() {
	for _, s := range c.sock {
		_ = s.Close()
	}
	res := relayResult{sent: c.total[0], received: c.total[1], reason: "eof"}
	if p := c.ended.Load(); p != nil && *p != "" {
		res.reason = *p
	} else if c.errs[0] != nil || c.errs[1] != nil {
		res.reason = "error: " + copyError(c.errs)
	}
	c.done(res)
}

// copyError names the first real failure of a connection's copies as the
// event loops do ("read upstream: connection reset by peer"): the other
// direction's error is only the consequence of closing it.
func copyError(errs [2]error) string {
	for _, err := range errs {
		var ce *copyErr
		if errors.As(err, &ce) && !errors.Is(ce.err, net.ErrClosed) {
			return ce.Error()
		}
	}
	for _, err := range errs {
		if err != nil {
			return err.Error()
		}
	}
	return ""
}

// copyErr is a copy's failure, named by operation and side.
type copyErr struct {
	op   string // read, write
	side int
	err  error
}

func (e *copyErr) Error() string {
	msg := e.err.Error()
	var errno syscall.Errno
	if errors.As(e.err, &errno) {
		msg = errno.Error()
	}
	return e.op + " " + sideName[e.side] + ": " + msg
}

func (e *copyErr) Unwrap() error { return e.err }

// copyReader reads a copy's source with the connection's idle deadline:
// a wait that times out while the other direction moved bytes goes on.
type copyReader struct {
	c    *copied
	src  *net.TCPConn
	side int
}

func (r *copyReader) Read(p []byte) (int, error) {
	for {
		_ = r.src.SetReadDeadline(time.Now().Add(r.c.idle))
		n, err := r.src.Read(p)
		if n > 0 {
			r.c.last.Store(monotime())
		}
		switch {
		case err == nil, err == io.EOF:
			return n, err
		case errors.Is(err, os.ErrDeadlineExceeded):
			if time.Duration(monotime()-r.c.last.Load()) < r.c.idle {
				continue // the other direction is busy: the connection is not idle
			}
			r.c.stop("idle_timeout")
			return n, &copyErr{op: "read", side: r.side, err: err}
		}
		return n, &copyErr{op: "read", side: r.side, err: err}
	}
}

// sideWriter names a copy's write failures by side. Neither it nor
// copyReader offers ReadFrom or WriteTo, so io.Copy calls Read, where the
// idle deadline is set.
type sideWriter struct {
	dst  *net.TCPConn
	side int
}

func (w sideWriter) Write(p []byte) (int, error) {
	n, err := w.dst.Write(p)
	if err != nil {
		err = &copyErr{op: "write", side: w.side, err: err}
	}
	return n, err
}
