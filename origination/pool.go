package origination

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"sync"
	"time"
)

// Upstream describes one destination (an Istio cluster) to the Pool.
type Upstream struct {
	Key         string                                                       // identity of everything below; equal keys share one transport and its idle connections
	TLS         *TLS                                                         // nil: plaintext HTTP upstream
	Dial        func(ctx context.Context, host string) (*net.TCPConn, error) // connects for the requested host
	IdleTimeout time.Duration                                                // idle pooled connections are closed after this
	MaxRequests int                                                          // maxRequestsPerConnection (requests, or HTTP/2 streams, per connection); 0 = unlimited
	HTTP2       bool                                                         // HTTP/2 upstream (port declared HTTP2/GRPC, or h2UpgradePolicy UPGRADE): ALPN h2 over TLS, prior knowledge in plaintext
}

// Pool keeps one http.Transport, one H1Pool and one H2Pool per upstream key, so that
// pooled connections survive configuration reloads that leave an upstream
// as it was. Transport and H1 are called when a snapshot is built, never
// per request. Safe for concurrent use.
type Pool struct {
	roots   *x509.CertPool    // immutable: system roots plus --ca-file
	onPanic func(*PanicError) // set before use (OnPanic), then immutable; may be nil

	mu         sync.Mutex
	transports map[string]*http.Transport // guarded by mu
	h1         map[string]*H1Pool         // guarded by mu
	h2         map[string]*H2Pool         // guarded by mu
}

// NewPool returns an empty pool verifying upstreams against roots unless an
// Upstream's TLS names its own CA.
func NewPool(roots *x509.CertPool) *Pool {
	return &Pool{roots: roots, transports: map[string]*http.Transport{}, h1: map[string]*H1Pool{}, h2: map[string]*H2Pool{}}
}

// Transport returns the transport for u, creating it on first use.
func (p *Pool) Transport(u Upstream) *http.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.transports[u.Key]; ok {
		return t
	}
	t := &http.Transport{
		DialContext:           dialContext(u.Dial),
		ForceAttemptHTTP2:     u.HTTP2, // as Istio: HTTP/1.1 upstream unless the port asks for HTTP/2
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       u.IdleTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableKeepAlives:     u.MaxRequests == 1,
		DisableCompression:    true, // pass bodies through as the client asked
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
	if u.TLS != nil {
		t.TLSClientConfig = ClientConfig(u.TLS, p.roots)
	} else if u.HTTP2 {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	p.transports[u.Key] = t
	return t
}

// H1 returns the HTTP/1.1 connection pool for u, creating it on first use.
func (p *Pool) H1(u Upstream) *H1Pool { return poolFor(p, p.h1, u, newH1Pool) }

// H2 returns the HTTP/2 connection pool for u, creating it on first use.
func (p *Pool) H2(u Upstream) *H2Pool {
	return poolFor(p, p.h2, u, func(u Upstream, cfg *tls.Config) *H2Pool {
		h := newH2Pool(u, cfg)
		h.onPanic = p.onPanic
		return h
	})
}

// OnPanic has f told of each panic recovered in a connection's shared
// loops (the connection failed, its streams with a *PanicError): to log
// and count it. Called before the pool is used; f must be safe for
// concurrent use.
func (p *Pool) OnPanic(f func(*PanicError)) { p.onPanic = f }

// poolFor returns m's pool for u's key, making it with u's TLS client
// configuration (nil for plaintext) on first use.
func poolFor[T any](p *Pool, m map[string]*T, u Upstream, newPool func(Upstream, *tls.Config) *T) *T {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h, ok := m[u.Key]; ok {
		return h
	}
	var cfg *tls.Config
	if u.TLS != nil {
		cfg = ClientConfig(u.TLS, p.roots)
	}
	h := newPool(u, cfg)
	m[u.Key] = h
	return h
}

// Retain drops every transport and H1 and H2 pool whose key is not in keep,
// closing its idle connections; requests in flight on them finish normally.
func (p *Pool) Retain(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, t := range p.transports {
		if !keep[k] {
			t.CloseIdleConnections()
			delete(p.transports, k)
		}
	}
	for k, h := range p.h1 {
		if !keep[k] {
			h.closeIdle(true)
			delete(p.h1, k)
		}
	}
	for k, h := range p.h2 {
		if !keep[k] {
			h.closeIdle(true)
			delete(p.h2, k)
		}
	}
}

// CloseIdle closes idle connections of every transport and H1 pool (shutdown).
func (p *Pool) CloseIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
	for _, h := range p.h1 {
		h.closeIdle(false)
	}
	for _, h := range p.h2 {
		h.closeIdle(false)
	}
}

// dialContext adapts dial to http.Transport, which names the host in an address.
func dialContext(dial func(context.Context, string) (*net.TCPConn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, _, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		return dial(ctx, host)
	}
}
