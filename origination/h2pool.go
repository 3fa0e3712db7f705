package origination

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNoHTTP2 is returned by H2Pool.Get when the upstream chose HTTP/1.1
// by ALPN; the caller sends the request over HTTP/1.1 instead.
var ErrNoHTTP2 = errors.New("the upstream does not offer HTTP/2 (ALPN)")

// errNoStreams is an upstream whose SETTINGS_MAX_CONCURRENT_STREAMS is 0.
var errNoStreams = &ProtocolError{errors.New("the upstream's HTTP/2 SETTINGS allow no concurrent streams")}

// noH2Retry is how long an upstream that declined HTTP/2 is sent
// HTTP/1.1 before HTTP/2 is offered to it again.
const noH2Retry = 5 * time.Minute

// H2Pool keeps the HTTP/2 connections to one upstream, per requested
// host. A request takes a stream slot on a connection with one free and
// the pool opens another connection when all are full, one dial at a time
// per host. Safe for concurrent use.
type H2Pool struct {
	u       Upstream
	tls     *tls.Config       // nil: plaintext HTTP/2 with prior knowledge
	onPanic func(*PanicError) // immutable; may be nil
	hooks   *h2Hooks          // tests only: set before the first connection, then immutable

	mu     sync.Mutex
	conns  map[string][]*H2Conn // guarded by mu
	dials  map[string]*h2Dial   // guarded by mu: dial in progress per host
	closed bool                 // guarded by mu

	noH2Until atomic.Int64 // unix nanoseconds; the upstream declined h2 by ALPN
}

type h2Dial struct {
	done chan struct{}
	err  error
}

func newH2Pool(u Upstream, cfg *tls.Config) *H2Pool {
	if cfg != nil {
		cfg = cfg.Clone()
		cfg.NextProtos = []string{"h2", "http/1.1"}
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	return &H2Pool{u: u, tls: cfg, conns: map[string][]*H2Conn{}, dials: map[string]*h2Dial{}}
}

// Usable reports whether requests should try HTTP/2: false for a while
// after the upstream declined it by ALPN.
func (p *H2Pool) Usable() bool {
	until := p.noH2Until.Load()
	return until == 0 || time.Now().UnixNano() > until
}

// Get returns a connection for host with a stream slot reserved for the
// caller, who opens the stream with Open (or gives the slot back by
// closing the stream it opened).
func (p *H2Pool) Get(ctx context.Context, host string) (*H2Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return p.dialOnce(ctx, host)
		}
		for _, c := range p.conns[host] {
			if c.reserve() {
				p.mu.Unlock()
				return c, nil
			}
		}
		if d := p.dials[host]; d != nil {
			p.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if d.err != nil {
				return nil, d.err
			}
			continue
		}
		d := &h2Dial{done: make(chan struct{})}
		p.dials[host] = d
		p.mu.Unlock()

		c, err := p.dial(ctx, host)
		p.mu.Lock()
		delete(p.dials, host)
		closed := p.closed
		if err == nil && !closed {
			p.conns[host] = append(p.conns[host], c)
		}
		d.err = err
		close(d.done)
		p.mu.Unlock()
		switch {
		case err != nil:
			return nil, err
		case closed:
			return c.takeLast()
		case c.reserve():
			return c, nil
		}
		// Taken by waiters at once, or the upstream allows no streams: try
		// again only if it allows some, so that a limit of 0 cannot make
		// this dial forever.
		if !c.allowsStreams() {
			return nil, errNoStreams
		}
	}
}

// dialOnce serves a request that raced with the pool's retirement (a
// configuration reload that dropped this upstream): a connection of its
// own, closed after its one stream.
func (p *H2Pool) dialOnce(ctx context.Context, host string) (*H2Conn, error) {
	c, err := p.dial(ctx, host)
	if err != nil {
		return nil, err
	}
	return c.takeLast()
}

// dial connects, originates TLS if configured and starts HTTP/2.
func (p *H2Pool) dial(ctx context.Context, host string) (*H2Conn, error) {
	raw, err := p.u.Dial(ctx, host)
	if err != nil {
		return nil, err
	}
	var conn net.Conn = raw
	if p.tls != nil {
		tc, err := handshake(ctx, raw, p.tls, host)
		if err != nil {
			return nil, err
		}
		if tc.ConnectionState().NegotiatedProtocol != "h2" {
			_ = tc.Close()
			p.noH2Until.Store(time.Now().Add(noH2Retry).UnixNano())
			return nil, ErrNoHTTP2
		}
		conn = tc
	}
	c, err := newH2Conn(p, host, conn)
	if err != nil {
		_ = conn.Close()
		return nil, &ProtocolError{err}
	}
	return c, nil
}

// handshake originates TLS on raw, sending host as SNI unless cfg names
// one; raw is closed on failure.
func handshake(ctx context.Context, raw *net.TCPConn, cfg *tls.Config, host string) (*tls.Conn, error) {
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(raw, cfg)
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err := tc.HandshakeContext(hctx)
	cancel()
	if err != nil {
		_ = raw.Close()
		return nil, &HandshakeError{Host: cfg.ServerName, Err: err}
	}
	return tc, nil
}

// reusable reports whether a connection that has taken n streams may take another.
func (p *H2Pool) reusable(n int) bool {
	return p.u.MaxRequests <= 0 || n < p.u.MaxRequests
}

// forget drops c from the pool: it takes no new streams.
func (p *H2Pool) forget(c *H2Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.conns[c.host]
	for i, x := range l {
		if x == c {
			l = append(l[:i], l[i+1:]...)
			break
		}
	}
	if len(l) == 0 {
		delete(p.conns, c.host)
	} else {
		p.conns[c.host] = l
	}
}

// closeIdle closes the connections without streams and lets the others
// close after their last stream; with final, the pool takes no more requests.
func (p *H2Pool) closeIdle(final bool) {
	p.mu.Lock()
	all := p.conns
	p.conns = map[string][]*H2Conn{}
	if final {
		p.closed = true
	}
	p.mu.Unlock()
	for _, l := range all {
		for _, c := range l {
			c.closeIfIdle()
		}
	}
}
