package egress

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

// pipeResult is what a finished pipe reports to the access log.
type pipeResult struct {
	sent, received int64  // bytes client->upstream, upstream->client
	reason         string // why it ended
}

// pipe copies both ways between two TCP connections until both directions
// end, then closes them. The copies are io.Copy between *net.TCPConn, which
// Linux turns into splice(2): no bytes pass through Go. Half-close is
// passed on. A connection on which no byte moved for idle is closed; the
// idle check rides on read deadlines, so it costs one wake-up a period:
// each direction learns of the other's progress only when the other's copy
// returns at its own deadline, so progress is known at most one period
// late, and a connection counts as idle once none was seen for idle plus
// one period.
func pipe(client, upstream *net.TCPConn, idle time.Duration) pipeResult {
	var last atomic.Int64 // unix nanos of the last observed progress
	last.Store(time.Now().UnixNano())
	period := min(idle/2, time.Minute)
	type half struct {
		n      int64
		reason string
	}
	done := make(chan half, 1)
	go func() {
		n, reason := copyHalf(upstream, client, period, idle, &last)
		done <- half{n, reason}
	}()
	recv, reason := copyHalf(client, upstream, period, idle, &last)
	other := <-done
	_ = client.Close()
	_ = upstream.Close()
	return pipeResult{sent: other.n, received: recv, reason: telling(reason, other.reason)}
}

// telling picks the close reason that says more: one direction's idle
// timeout or error is why the other saw its connection closed.
func telling(a, b string) string {
	rank := func(r string) int {
		switch r {
		case "eof":
			return 0
		case "closed":
			return 1
		}
		return 2
	}
	if rank(b) > rank(a) {
		return b
	}
	return a
}

// copyHalf copies src to dst until EOF, error or idleness, then half-closes dst.
func copyHalf(dst, src *net.TCPConn, period, idle time.Duration, last *atomic.Int64) (int64, string) {
	var total int64
	for {
		_ = src.SetReadDeadline(time.Now().Add(period))
		n, err := io.Copy(dst, src)
		total += n
		now := time.Now().UnixNano()
		if n > 0 {
			last.Store(now)
		}
		switch {
		case err == nil:
			_ = dst.CloseWrite()
			_ = src.CloseRead()
			return total, "eof"
		case errors.Is(err, os.ErrDeadlineExceeded):
			if time.Duration(now-last.Load()) < idle+period {
				continue
			}
			_ = src.Close()
			_ = dst.Close()
			return total, "idle_timeout"
		default:
			_ = dst.Close()
			_ = src.Close()
			if errors.Is(err, net.ErrClosed) {
				return total, "closed"
			}
			return total, "error: " + err.Error()
		}
	}
}
