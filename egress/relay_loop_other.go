//go:build !linux

package egress

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// loop stands for the Linux event loops, which are not built here: the
// relay never starts one and relays with io.Copy.
type loop struct{ broken atomic.Bool }

func (r *relay) start() { r.err = errors.New("relay: the event loops are built for Linux only") }

func (lp *loop) take(client, upstream *net.TCPConn, _ time.Duration, done func(relayResult)) {
	_, _ = client.Close(), upstream.Close()
	done(relayResult{reason: "closed"})
}

func (lp *loop) stop() {}
