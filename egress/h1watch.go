package egress

import (
	"io"
	"net"
	"sync"
	"time"

	"github.com/egressgw/egressgw/internal/peek"
)

// watchPeriod is how often a client waiting on the upstream is checked for having gone away.
const watchPeriod = time.Second

// clientWatch notices a client that goes away while its request waits on
// the upstream: every watchPeriod it peeks at the client's socket and, at
// end of stream or an error, closes the upstream connection (or HTTP/2 stream),
// which ends the wait (net/http's server noticed the same with a background read).
// One timer per client connection, reset per request.
type clientWatch struct {
	c     *net.TCPConn
	timer *time.Timer

	mu   sync.Mutex
	uc   io.Closer // the upstream connection or stream waited on; nil when not watching
	gone bool      // the client went away during this watch
}

func newClientWatch(c *net.TCPConn) *clientWatch {
	w := &clientWatch{c: c}
	w.timer = time.AfterFunc(time.Hour, w.check)
	w.timer.Stop()
	return w
}

// start watches the client while uc is waited on.
func (w *clientWatch) start(uc io.Closer) {
	w.mu.Lock()
	w.uc, w.gone = uc, false
	w.mu.Unlock()
	w.timer.Reset(watchPeriod)
}

// stop ends the watch and reports whether the client went away during it.
func (w *clientWatch) stop() bool {
	w.timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.uc = nil
	return w.gone
}

func (w *clientWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.uc == nil {
		return
	}
	if peek.Conn(w.c) == peek.Closed {
		w.gone = true
		_ = w.uc.Close()
		return
	}
	w.timer.Reset(watchPeriod)
}
