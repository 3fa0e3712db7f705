package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/egressgw/egressgw/route"
)

// listener is one egress port: an accept loop that classifies each
// connection, and an HTTP server fed with the plaintext ones. It outlives
// configuration reloads that keep its port.
type listener struct {
	side  route.Side
	port  uint32
	label string // port as text, for logs and metrics
	ln    *net.TCPListener
	queue *connQueue   // connections for srv (HTTP/2 with Config.StdlibPaths, HTTP/1 too)
	srv   *http.Server // serves those; otherwise h1conn and h2conn serve them

	closing atomic.Bool // no new requests: connections close after the one in flight
	mu      sync.Mutex
	h1      map[*h1conn]struct{} // guarded by mu
	h2      map[*h2conn]struct{} // guarded by mu
	drained chan struct{}        // closed once closing and the last HTTP/1 and HTTP/2 connection is gone; guarded by mu
}

func (l *listener) key() listenerKey { return listenerKey{l.side, l.port} }

func (e *Engine) startListener(k listenerKey, ln *net.TCPListener) *listener {
	l := &listener{side: k.side, port: k.port, label: strconv.Itoa(int(k.port)), ln: ln, queue: newConnQueue(ln.Addr()),
		h1: map[*h1conn]struct{}{}, h2: map[*h2conn]struct{}{}, drained: make(chan struct{})}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // HTTP2/GRPC ports: h2c with prior knowledge
	protocols.SetHTTP2(true)            // TLS-terminated ingress connections that negotiated h2
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.serveHTTP(l, w, r) }),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    16 * e.cfg.MaxHeaderBytes, // backstop only: handle enforces (and logs) the limit itself
		Protocols:         &protocols,
		ErrorLog:          zap.NewStdLog(e.log.Named("http")),
	}
	go func() { _ = l.srv.Serve(l.queue) }()
	go e.accept(l)
	return l
}

func (e *Engine) accept(l *listener) {
	var backoff time.Duration
	for {
		c, err := l.ln.AcceptTCP()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			e.log.Warn("accept failed", zap.String("listener", l.label), zap.Error(err), zap.Duration("retry_in", backoff))
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		e.conns.Add(1)
		go e.serveConn(l, c)
	}
}

// track registers an HTTP/1 connection, unless the listener is closing.
func (l *listener) track(h *h1conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing.Load() {
		return false
	}
	l.h1[h] = struct{}{}
	return true
}

func (l *listener) untrack(h *h1conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.h1, h)
	l.checkDrained()
}

// trackH2 registers an HTTP/2 connection, unless the listener is closing.
func (l *listener) trackH2(h *h2conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing.Load() {
		return false
	}
	l.h2[h] = struct{}{}
	return true
}

func (l *listener) untrackH2(h *h2conn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.h2, h)
	l.checkDrained()
}

// checkDrained closes drained when the last connection of a closing
// listener is gone. Called with mu held.
func (l *listener) checkDrained() {
	if l.closing.Load() && len(l.h1) == 0 && len(l.h2) == 0 {
		select {
		case <-l.drained:
		default:
			close(l.drained)
		}
	}
}

// closeIdle starts the listener's drain: idle HTTP/1 connections close
// now, busy ones after their response (which says Connection: close). A
// connection going idle after this sees closing itself (waitRequest).
// HTTP/2 connections get GOAWAY: their streams in flight finish, then they close.
func (l *listener) closeIdle() {
	l.mu.Lock()
	l.closing.Store(true)
	for h := range l.h1 {
		if h.idle.Load() {
			_ = h.c.SetReadDeadline(time.Now())
		}
	}
	h2 := make([]*h2conn, 0, len(l.h2))
	for h := range l.h2 {
		h2 = append(h2, h)
	}
	l.checkDrained()
	l.mu.Unlock()
	for _, h := range h2 { // outside mu: GOAWAY is a write to the client
		h.shutdown()
	}
}

// closeAll ends every HTTP/1 connection at once.
func (l *listener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closing.Store(true)
	for h := range l.h1 {
		_ = h.c.Close()
	}
	for h := range l.h2 {
		_ = h.c.Close()
	}
}

// shutdown drains the listener until ctx is done, then closes what is left.
func (l *listener) shutdown(ctx context.Context) {
	_ = l.ln.Close()
	_ = l.queue.Close()
	l.closeIdle()
	if err := l.srv.Shutdown(ctx); err != nil {
		_ = l.srv.Close()
	}
	select {
	case <-l.drained:
	case <-ctx.Done():
		l.closeAll()
	}
}

// connQueue is a net.Listener whose connections are handed over by the accept loop.
type connQueue struct {
	ch     chan net.Conn
	closed chan struct{}
	once   sync.Once
	addr   net.Addr
}

func newConnQueue(addr net.Addr) *connQueue {
	return &connQueue{ch: make(chan net.Conn), closed: make(chan struct{}), addr: addr}
}

func (q *connQueue) push(c net.Conn) {
	select {
	case q.ch <- c:
	case <-q.closed:
		_ = c.Close()
	}
}

func (q *connQueue) Accept() (net.Conn, error) {
	select {
	case c := <-q.ch:
		return c, nil
	case <-q.closed:
		return nil, net.ErrClosed
	}
}

func (q *connQueue) Close() error {
	q.once.Do(func() { close(q.closed) })
	return nil
}

func (q *connQueue) Addr() net.Addr { return q.addr }
