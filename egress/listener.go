package egress

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// listener is one egress port: an accept loop that classifies each
// connection, and an HTTP server fed with the plaintext ones. It outlives
// configuration reloads that keep its port.
type listener struct {
	port  uint32
	label string // port as text, for logs and metrics
	ln    *net.TCPListener
	queue *connQueue
	srv   *http.Server
}

func (e *Engine) startListener(port uint32, ln *net.TCPListener) *listener {
	l := &listener{port: port, label: strconv.Itoa(int(port)), ln: ln, queue: newConnQueue(ln.Addr())}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true) // HTTP2/GRPC ports: h2c with prior knowledge
	l.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.serveHTTP(l, w, r) }),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       5 * time.Minute,
		MaxHeaderBytes:    16 * e.cfg.MaxHeaderBytes, // backstop only: serveHTTP enforces (and logs) the limit itself
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
