package dnsproxy

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
)

const (
	minCacheTTL     = time.Second
	maxCacheTTL     = 300 * time.Second
	negativeTTL     = 5 * time.Second
	maxCacheEntries = 4096
)

// Resolver resolves upstream host names for the gateway itself (dialling
// ServiceEntry hosts), through Upstream, with a cache. Safe for concurrent
// use.
type Resolver struct {
	fwd *forwarder       // immutable
	now func() time.Time // immutable; a field so that tests can move time

	mu       sync.Mutex
	cache    map[string]cacheEntry // guarded by mu; key: lower-case FQDN
	inflight map[string]*lookup    // guarded by mu
}

type cacheEntry struct {
	addrs   []netip.Addr // never handed out: callers get a copy
	err     error
	expires time.Time
}

// lookup is one upstream resolution that concurrent callers share.
type lookup struct {
	done  chan struct{} // closed when addrs and err are set
	addrs []netip.Addr
	err   error
}

// LookupError is the error of LookupAddrs.
type LookupError struct {
	Host     string // lower case, no trailing dot
	Upstream string
	Rcode    int   // the upstream's rcode when Err is nil: NXDOMAIN, SERVFAIL..., or NOERROR without addresses
	Err      error // why no answer came, nil if one did
}

func (e *LookupError) Error() string {
	msg := "resolve " + e.Host + " via " + e.Upstream + ": "
	switch {
	case e.Err != nil:
		return msg + e.Err.Error()
	case e.Rcode == dns.RcodeSuccess:
		return msg + "no A or AAAA records"
	}
	if s, ok := dns.RcodeToString[e.Rcode]; ok {
		return msg + s
	}
	return msg + "rcode " + strconv.Itoa(e.Rcode)
}

func (e *LookupError) Unwrap() error { return e.Err }

// NewResolver returns a Resolver asking upstream ("ip:port"), each
// exchange bounded by timeout (default 2s).
func NewResolver(upstream string, timeout time.Duration) *Resolver {
	return &Resolver{
		fwd:      newForwarder(upstream, timeout, nil),
		now:      time.Now,
		cache:    make(map[string]cacheEntry),
		inflight: make(map[string]*lookup),
	}
}

// LookupAddrs returns the addresses of host, IPv4 (A) first then IPv6
// (AAAA). An IP literal (brackets allowed) is returned as it is. Answers
// are cached for their TTL, clamped to 1s..300s; failures for 5s.
// Concurrent lookups of one name share one upstream query; ctx bounds only
// this caller's wait. The error is a *LookupError.
func (r *Resolver) LookupAddrs(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")); err == nil {
		return []netip.Addr{ip}, nil
	}
	name := strings.ToLower(dns.Fqdn(host))
	if _, ok := dns.IsDomainName(name); !ok || name == "." {
		return nil, &LookupError{Host: host, Upstream: r.fwd.upstream, Err: errInvalidName}
	}

	r.mu.Lock()
	if e, ok := r.cache[name]; ok {
		if r.now().Before(e.expires) {
			r.mu.Unlock()
			return slices.Clone(e.addrs), e.err
		}
		delete(r.cache, name)
	}
	l, ok := r.inflight[name]
	if !ok {
		l = &lookup{done: make(chan struct{})}
		r.inflight[name] = l
		// Detached from ctx: other callers may be waiting for the answer.
		go r.resolve(context.WithoutCancel(ctx), name, l)
	}
	r.mu.Unlock()

	select {
	case <-l.done:
		return slices.Clone(l.addrs), l.err
	case <-ctx.Done():
		return nil, &LookupError{Host: strings.TrimSuffix(name, "."), Upstream: r.fwd.upstream, Err: ctx.Err()}
	}
}

var errInvalidName = errors.New("invalid host name")

// resolve asks for A and AAAA at once, then caches and publishes the result.
func (r *Resolver) resolve(ctx context.Context, name string, l *lookup) {
	var v4 answer
	done := make(chan struct{})
	go func() { v4 = r.query(ctx, name, dns.TypeA); close(done) }()
	v6 := r.query(ctx, name, dns.TypeAAAA)
	<-done

	ttl := negativeTTL
	l.addrs = append(v4.addrs, v6.addrs...)
	switch {
	case len(l.addrs) > 0:
		ttl = min(v4.ttl, v6.ttl)
		if v4.failed() || v6.failed() {
			ttl = min(ttl, negativeTTL) // one family failed: ask again soon
		}
		ttl = max(minCacheTTL, min(ttl, maxCacheTTL))
	case v4.failed() || !v6.failed(): // report A's failure, or NODATA for both
		l.err = &LookupError{Host: strings.TrimSuffix(name, "."), Upstream: r.fwd.upstream, Rcode: v4.rcode, Err: v4.err}
	default:
		l.err = &LookupError{Host: strings.TrimSuffix(name, "."), Upstream: r.fwd.upstream, Rcode: v6.rcode, Err: v6.err}
	}

	r.mu.Lock()
	r.store(name, cacheEntry{addrs: l.addrs, err: l.err, expires: r.now().Add(ttl)})
	delete(r.inflight, name)
	r.mu.Unlock()
	close(l.done)
}

// store caches e under name, evicting expired entries, then arbitrary
// ones, when the cache is full. r.mu must be held.
func (r *Resolver) store(name string, e cacheEntry) {
	if len(r.cache) >= maxCacheEntries {
		now := r.now()
		for k, old := range r.cache {
			if !now.Before(old.expires) {
				delete(r.cache, k)
			}
		}
		for k := range r.cache {
			if len(r.cache) < maxCacheEntries {
				break
			}
			delete(r.cache, k)
		}
	}
	r.cache[name] = e
}

// answer is the result of one query for one address family.
type answer struct {
	addrs []netip.Addr
	ttl   time.Duration // smallest TTL in the answer section
	rcode int
	err   error
}

func (a answer) failed() bool { return a.err != nil || a.rcode != dns.RcodeSuccess }

func (r *Resolver) query(ctx context.Context, name string, qtype uint16) answer {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(ednsUDPSize, false)
	resp, err := r.fwd.exchange(ctx, m, false)
	if err != nil {
		return answer{err: err, ttl: negativeTTL}
	}
	a := answer{rcode: resp.Rcode, ttl: maxCacheTTL}
	for _, rr := range resp.Answer {
		// CNAMEs in the chain bound the TTL too.
		a.ttl = min(a.ttl, time.Duration(rr.Header().Ttl)*time.Second)
		switch rr := rr.(type) {
		case *dns.A:
			if ip, ok := netip.AddrFromSlice(rr.A); ok {
				a.addrs = append(a.addrs, ip.Unmap())
			}
		case *dns.AAAA:
			if ip, ok := netip.AddrFromSlice(rr.AAAA); ok {
				a.addrs = append(a.addrs, ip)
			}
		}
	}
	return a
}
