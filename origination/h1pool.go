package origination

import (
	"bufio"
	"context"
	"crypto/tls"
	"math"
	"net"
	"sync"
	"time"

	"github.com/egressgw/egressgw/internal/limit"
	"github.com/egressgw/egressgw/internal/peek"
)

// maxIdlePerHost bounds the idle connections an H1Pool keeps for one host.
const maxIdlePerHost = 512

// H1Conn is one upstream HTTP/1.1 connection. The caller that got it from
// an H1Pool owns it until it gives it back with Put or closes it.
type H1Conn struct {
	net.Conn               // *tls.Conn when TLS is originated, else the TCP connection
	R        *bufio.Reader // reads responses
	W        *bufio.Writer // writes requests; the caller flushes
	Reused   bool          // it served an earlier request, so the upstream may have closed it meanwhile

	raw       *net.TCPConn
	lim       limit.Reader // under R
	host      string
	uses      int
	idleSince time.Time
}

// MaxResponseHeaderBytes bounds an upstream's response head, as the
// gateway bounds a request's (64 KiB): over HTTP/1.1 what it may send
// before the body (status line, headers, interim responses); over HTTP/2
// the head (or trailers) as HTTP/2 counts its size (RFC 9113 §6.5.2: names,
// values and 32 per field) and the header block that carries it, which is
// also announced as SETTINGS_MAX_HEADER_LIST_SIZE. A head over it fails its
// request with a 502 naming the limit.
const MaxResponseHeaderBytes = 64 << 10

// ErrResponseHeadTooLarge ends an HTTP/1.1 response whose head passed MaxResponseHeaderBytes.
var ErrResponseHeadTooLarge = errHeadTooLarge(MaxResponseHeaderBytes)

// LimitHead bounds the bytes R may read from now on to
// MaxResponseHeaderBytes (plus what its buffer read ahead); Unlimit lifts
// the bound for the body.
func (c *H1Conn) LimitHead() { c.lim.N = MaxResponseHeaderBytes }
func (c *H1Conn) Unlimit()   { c.lim.N = math.MaxInt64 }

// Alive reports whether a pooled connection still looks usable: the
// upstream has neither closed it nor sent anything unasked. It costs one
// non-blocking system call; callers use it only where a failed request
// could not be retried.
func (c *H1Conn) Alive() bool {
	return c.R.Buffered() == 0 && peek.Conn(c.raw) == peek.Empty
}

// H1Pool keeps the idle HTTP/1.1 connections to one upstream, per
// requested host (hosts differ only where the upstream is the requested
// host itself). Safe for concurrent use; a Get or Put holds its mutex for a
// few instructions.
type H1Pool struct {
	u   Upstream
	tls *tls.Config // nil for plaintext; ServerName filled per host when the DestinationRule names no SNI

	mu     sync.Mutex
	idle   map[string][]*H1Conn // guarded by mu; most recently used last
	timer  *time.Timer          // guarded by mu; armed while anything is idle
	closed bool                 // guarded by mu
}

func newH1Pool(u Upstream, cfg *tls.Config) *H1Pool {
	if cfg != nil {
		cfg = cfg.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		cfg.ClientSessionCache = tls.NewLRUClientSessionCache(64)
	}
	return &H1Pool{u: u, tls: cfg, idle: map[string][]*H1Conn{}}
}

// Get returns an idle connection for host, or dials one. Connections idle
// for longer than the upstream's idle timeout are closed, not returned.
func (p *H1Pool) Get(ctx context.Context, host string) (*H1Conn, error) {
	now := time.Now()
	var stale []*H1Conn
	p.mu.Lock()
	var c *H1Conn
	for l := p.idle[host]; len(l) > 0; {
		last := l[len(l)-1]
		l[len(l)-1] = nil
		l = l[:len(l)-1]
		p.idle[host] = l
		if now.Sub(last.idleSince) < p.u.IdleTimeout {
			c = last
			break
		}
		stale = append(stale, last)
	}
	p.mu.Unlock()
	for _, s := range stale {
		_ = s.Close()
	}
	if c != nil {
		c.Reused = true
		return c, nil
	}
	return p.Dial(ctx, host)
}

// Dial makes a new connection for host, never an idle one.
func (p *H1Pool) Dial(ctx context.Context, host string) (*H1Conn, error) {
	raw, err := p.u.Dial(ctx, host)
	if err != nil {
		return nil, err
	}
	c := &H1Conn{Conn: raw, raw: raw, host: host}
	if p.tls != nil {
		tc, err := handshake(ctx, raw, p.tls, host)
		if err != nil {
			return nil, err
		}
		c.Conn = tc
	}
	c.lim = limit.Reader{R: c.Conn, N: math.MaxInt64, Err: ErrResponseHeadTooLarge}
	c.R = bufio.NewReaderSize(&c.lim, 16<<10)
	c.W = bufio.NewWriterSize(c.Conn, 16<<10)
	return c, nil
}

// KeepAlive reports whether c may serve another request after this one,
// as the DestinationRule's maxRequestsPerConnection allows.
func (p *H1Pool) KeepAlive(c *H1Conn) bool { return p.reusable(c.uses + 1) }

// reusable reports whether a connection that has served n requests may serve another.
func (p *H1Pool) reusable(n int) bool {
	return p.u.MaxRequests <= 0 || n < p.u.MaxRequests
}

// Put gives c back after a complete exchange that left it reusable.
func (p *H1Pool) Put(c *H1Conn) {
	c.uses++
	c.idleSince = time.Now()
	p.mu.Lock()
	l := p.idle[c.host]
	if p.closed || !p.reusable(c.uses) || len(l) >= maxIdlePerHost {
		p.mu.Unlock()
		_ = c.Close()
		return
	}
	p.idle[c.host] = append(l, c)
	if p.timer == nil {
		p.timer = time.AfterFunc(p.u.IdleTimeout, p.sweep)
	}
	p.mu.Unlock()
}

// sweep closes connections that have been idle for the idle timeout.
func (p *H1Pool) sweep() {
	now := time.Now()
	var stale []*H1Conn
	p.mu.Lock()
	next := time.Duration(-1)
	for host, l := range p.idle {
		keep := l[:0]
		for _, c := range l {
			if left := p.u.IdleTimeout - now.Sub(c.idleSince); left > 0 {
				keep = append(keep, c)
				if next < 0 || left < next {
					next = left
				}
			} else {
				stale = append(stale, c)
			}
		}
		clear(l[len(keep):])
		if len(keep) == 0 {
			delete(p.idle, host)
		} else {
			p.idle[host] = keep
		}
	}
	p.timer = nil
	if next >= 0 && !p.closed {
		p.timer = time.AfterFunc(next, p.sweep)
	}
	p.mu.Unlock()
	for _, c := range stale {
		_ = c.Close()
	}
}

// closeIdle closes every idle connection; with final, later Puts close theirs too.
func (p *H1Pool) closeIdle(final bool) {
	p.mu.Lock()
	all := p.idle
	p.idle = map[string][]*H1Conn{}
	if final {
		p.closed = true
		if p.timer != nil {
			p.timer.Stop()
			p.timer = nil
		}
	}
	p.mu.Unlock()
	for _, l := range all {
		for _, c := range l {
			_ = c.Close()
		}
	}
}
