package origination

import (
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/net/http2"
)

// TestH2LoopPanic: a panic in a connection's reader (while dispatching a
// frame) or writer fails that connection only: its stream gets a
// *PanicError saying "internal error" (not a NoResponseError: it is not
// to be sent again), the pool's OnPanic is told, and the next request is
// served on a new connection.
func TestH2LoopPanic(t *testing.T) {
	for _, loop := range []string{"read", "write"} {
		t.Run(loop, func(t *testing.T) {
			var armed atomic.Bool
			hooks := &h2Hooks{}
			if loop == "read" {
				hooks.dispatch = func(f http2.Frame) {
					if p, ok := f.(*http2.PingFrame); ok && string(p.Data[:]) == "panic!!!" {
						panic("injected in dispatch")
					}
				}
			} else {
				hooks.write = func() {
					if armed.CompareAndSwap(true, false) {
						panic("injected in the writer")
					}
				}
			}
			u := newFirstConnRawH2Server(t, func(rc *rawH2Conn) {
				if loop == "read" {
					if _, err := rc.firstRequest(); err != nil {
						t.Error(err)
						return
					}
					_ = rc.fr.WritePing(false, [8]byte{'p', 'a', 'n', 'i', 'c', '!', '!', '!'})
				} else {
					_ = rc.handshake() // the request may never come: the writer panics with it
				}
				_, _ = io.Copy(io.Discard, rc)
			})
			p := NewPool(nil)
			panics := make(chan *PanicError, 4)
			p.OnPanic(func(err *PanicError) { panics <- err })
			hp := p.H2(u)
			hp.hooks = hooks
			t.Cleanup(func() { hp.closeIdle(true) })
			req := h2Req("http", "POST", "/")
			req.EndStream = false
			c1, s := openStream(t, hp, req)
			if loop == "write" {
				armed.Store(true)
				_, _ = s.Write([]byte("body")) // queued; the writer panics sending it
			}
			_, err := s.ReadResponse()
			var pe *PanicError
			if !errors.As(err, &pe) || pe.Loop != loop || !strings.Contains(err.Error(), "internal error") {
				t.Fatalf("stream: %v, want a PanicError of the %s loop saying internal error", err, loop)
			}
			var nr *NoResponseError
			if errors.As(err, &nr) {
				t.Errorf("stream: %v is a NoResponseError: a request that may panic again would be sent again", err)
			}
			select {
			case got := <-panics:
				if got.Loop != loop || len(got.Stack) == 0 {
					t.Errorf("OnPanic got loop %q and %d bytes of stack", got.Loop, len(got.Stack))
				}
			default:
				t.Error("OnPanic was not called")
			}
			res, err := roundTrip(hp, h2Req("http", "GET", "/next"), nil, nil)
			if err != nil || res.resp.StatusCode != 204 || res.conn == c1 {
				t.Fatalf("next request: %v, %v (same connection: %v); want 204 on a new connection", res.resp, err, res.conn == c1)
			}
		})
	}
}
