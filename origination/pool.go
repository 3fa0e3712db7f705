package origination

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"sync"
	"time"
)

// Upstream describes one destination (an Istio cluster) to the Pool.
type Upstream struct {
	Key               string // identity of everything below; equal keys share one transport and its idle connections
	TLS               *TLS   // nil: plaintext HTTP upstream
	Dial              func(ctx context.Context, network, addr string) (net.Conn, error)
	IdleTimeout       time.Duration // idle pooled connections are closed after this
	DisableKeepAlives bool          // maxRequestsPerConnection: 1
	H2C               bool          // plaintext upstream speaks HTTP/2 with prior knowledge (port declared HTTP2/GRPC)
}

// Pool keeps one http.Transport per upstream key, so that pooled
// connections survive configuration reloads that leave an upstream as it
// was. Transport is called when a snapshot is built, never per request.
// Safe for concurrent use.
type Pool struct {
	roots *x509.CertPool // immutable: system roots plus --ca-file

	mu         sync.Mutex
	transports map[string]*http.Transport // guarded by mu
}

// NewPool returns an empty pool verifying upstreams against roots unless an
// Upstream's TLS names its own CA.
func NewPool(roots *x509.CertPool) *Pool {
	return &Pool{roots: roots, transports: map[string]*http.Transport{}}
}

// Transport returns the transport for u, creating it on first use.
func (p *Pool) Transport(u Upstream) *http.Transport {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t, ok := p.transports[u.Key]; ok {
		return t
	}
	t := &http.Transport{
		DialContext:           u.Dial,
		ForceAttemptHTTP2:     true, // HTTP/2 when the upstream offers it by ALPN
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       u.IdleTimeout,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableKeepAlives:     u.DisableKeepAlives,
		DisableCompression:    true, // pass bodies through as the client asked
		WriteBufferSize:       32 << 10,
		ReadBufferSize:        32 << 10,
	}
	if u.TLS != nil {
		t.TLSClientConfig = ClientConfig(u.TLS, p.roots)
	} else if u.H2C {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	p.transports[u.Key] = t
	return t
}

// Retain drops every transport whose key is not in keep, closing its idle
// connections; requests in flight on them finish normally.
func (p *Pool) Retain(keep map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, t := range p.transports {
		if !keep[k] {
			t.CloseIdleConnections()
			delete(p.transports, k)
		}
	}
}

// CloseIdle closes idle connections of every transport (shutdown).
func (p *Pool) CloseIdle() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
}
