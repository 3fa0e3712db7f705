package egress

import (
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// The relay moves the bytes of passthrough and TCP connections once their
// upstream is connected: on Linux, event loops of egressgw's own
// (relay_loop.go, which says how they work); with the fast paths off,
// elsewhere, or when the loops cannot serve, io.Copy (relay_copy.go).

// sideName names a relayed connection's sockets: 0 the client's, 1 the upstream's.
var sideName = [2]string{"client", "upstream"}

// relayResult is what a finished relay reports to the access log.
type relayResult struct {
	sent, received int64  // bytes client->upstream, upstream->client
	reason         string // why it ended: eof, idle_timeout, closed or "error: ..."
}

// relay hands connections to its loops, started on first use, or to the
// standard library's io.Copy (copies): always when stdlib is set, and
// when the loops could not start or have all failed.
type relay struct {
	stdlib  bool                                    // immutable: relay with io.Copy only (--fast-paths=false)
	onPanic func(where string, v any, stack []byte) // immutable: reports a panic the relay recovered from; may be nil
	once    sync.Once
	loops   []*loop // set once; nil if closed before first use or if starting failed
	err     error   // why starting failed
	next    atomic.Uint32
	closed  atomic.Bool
	pipes   atomic.Int64 // pipes held by directions now, for tests and curiosity
	copies  copyRelay
}

// add relays between client and upstream until both directions end, no
// byte moves for idle, or the relay is closed, then closes both and calls
// done from a relay goroutine (done must not block). The connections are
// the relay's from this call on, whatever happens.
func (r *relay) add(client, upstream *net.TCPConn, idle time.Duration, done func(relayResult)) {
	if !r.stdlib && !r.closed.Load() {
		r.once.Do(r.start)
	}
	lp := r.pick()
	if lp == nil {
		r.copies.add(client, upstream, idle, done) // closed at once if the relay is closed
		return
	}
	lp.take(client, upstream, idle, done)
}

// pick returns the next loop that is still serving, or nil: none started
// (stdlib, closed, or starting failed) or all have failed.
func (r *relay) pick() *loop {
	n := len(r.loops)
	for range n {
		if lp := r.loops[int(r.next.Add(1))%n]; !lp.broken.Load() {
			return lp
		}
	}
	return nil
}

// close ends every relayed connection with reason "closed" and stops the
// loops; it returns once they are gone. Connections added later are closed
// at once.
func (r *relay) close() {
	r.closed.Store(true)
	r.once.Do(func() {}) // closed before first use: never start
	for _, lp := range r.loops {
		lp.stop()
	}
	r.copies.close()
}

// recovered reports a panic the relay survived.
func (r *relay) recovered(where string, v any) {
	if r.onPanic != nil {
		r.onPanic(where, v, debug.Stack())
	}
}

var epoch = time.Now()

// monotime is monotonic nanoseconds since start.
func monotime() int64 { return int64(time.Since(epoch)) }
