//go:build linux

package egress

import (
	"time"

	"golang.org/x/sys/unix"
)

// relayConn is one relayed connection. After add returns, only its loop's
// goroutine touches it.
type relayConn struct {
	fd       [2]int       // client, upstream sockets
	readable [2]bool      // by socket: an edge said so and no read said EAGAIN since
	writable [2]bool      // by socket: likewise for writes
	hangup   [2]bool      // by socket: the peer's end of stream (or an error) was signalled, so reads go on to it
	dir      [2]direction // 0: client to upstream (sent), 1: upstream to client (received)
	idle     time.Duration
	last     int64 // monotime of the last byte moved
	queued   bool  // in the loop's again list
	closed   bool
	done     func(relayResult)
}

// direction is one way of a connection.
type direction struct {
	p       *pipe  // borrowed while bytes move; nil otherwise
	n       int    // bytes in p
	pending []byte // read but not yet written (the destination was full); nil otherwise
	total   int64  // bytes delivered
	eof     bool   // the source ended and the destination was shut down for writing
}

// end closes c's sockets and reports res.
func (c *relayConn) end(res relayResult) {
	for _, fd := range c.fd {
		if fd >= 0 {
			_ = unix.Close(fd)
		}
	}
	c.done(res)
}
