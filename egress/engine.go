package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/identity"
	"github.com/egressgw/egressgw/netguard"
	"github.com/egressgw/egressgw/origination"
	"github.com/egressgw/egressgw/route"
)

// Config is what an Engine is built with.
type Config struct {
	EgressAddr netip.Addr // egress listeners bind here
	// IngressAddr (--ingress-addr) is where ingress Gateways' servers
	// listen; invalid: no ingress listener (a Gateway that would be served
	// is named in one warning).
	IngressAddr netip.Addr
	// Certs holds the server certificates of TLS-terminating Gateway
	// servers; nil: none (such servers fail their handshakes).
	Certs Certificates
	// TrustedProxies (--trusted-proxies) are the load balancers in front
	// of ingress whose X-Forwarded-Proto is believed.
	TrustedProxies []netip.Prefix
	Resolver       Resolver       // upstream host names
	Roots          *x509.CertPool // system roots plus --ca-file, for origination
	Log            *zap.Logger    // engine events
	AccessLog      *zap.Logger    // one line per request or connection
	Metrics        *Metrics       // required
	MaxHeaderBytes int            // request header limit; default 64 KiB (431 beyond)
	// AllowCIDRs (--allow-cidrs) are the private and reserved addresses
	// that names resolved at request time may reach; the classes netguard
	// always refuses stay refused.
	AllowCIDRs []netip.Prefix
	// NodeAddrs are the node's own addresses, which names resolved at
	// request time never reach; nil: the interfaces' addresses at New.
	// EgressAddr is added either way.
	NodeAddrs []netip.Addr
	// StdlibPaths serves with the standard library's paths instead of
	// egressgw's own fast ones: net/http's server for HTTP/1 clients,
	// http.Transport (and its HTTP/2) for upstreams, io.Copy for
	// passthrough and TCP (--fast-paths=false). Always set where the fast
	// paths are not built (not Linux).
	StdlibPaths bool
	// PathNormalization is Istio's meshConfig.pathNormalization; default MERGE_SLASHES.
	PathNormalization PathNormalization
	// Identities is the current table of pods by address (Kubernetes),
	// called once per client connection (an atomic load behind it). Nil,
	// or a nil table: no pods known, and no per-namespace rule applies
	// (exportTo, Sidecars, namespace-scoped AuthorizationPolicies); the
	// access log then says nothing of pods.
	Identities func() *identity.Table
	// ReusePort sets SO_REUSEPORT on every listener (Linux), so that a
	// rolling update's new gateway can listen beside this one (--reuse-port).
	ReusePort bool
	// BodyIdleTimeout fails a request (408) whose body makes no progress
	// for this long (HTTP/1 clients); default DefaultBodyIdleTimeout,
	// negative for none.
	BodyIdleTimeout time.Duration
}

// Engine serves egress traffic for the configuration it was last given.
type Engine struct {
	cfg     Config      // immutable after New
	log     *zap.Logger // immutable
	access  *zap.Logger // immutable
	metrics *Metrics    // immutable
	pool    *origination.Pool
	dialer  *dialer

	state atomic.Pointer[state] // the configuration being served; read lock-free
	gen   atomic.Uint64

	mu        sync.Mutex                // serializes Update and Shutdown
	listeners map[listenerKey]*listener // guarded by mu
	unserved  string                    // the Gateways last warned about for want of --ingress-addr; guarded by mu

	conns  sync.WaitGroup  // connections in flight
	stop   context.Context // cancelled when shutdown begins
	cancel context.CancelFunc
	relay  relay // splices passthrough and TCP connections; closing it closes them

	mirrors chan struct{} // a slot per mirrored request in flight
}

// New returns an engine with no configuration; Update gives it one.
func New(cfg Config) *Engine {
	if cfg.MaxHeaderBytes == 0 {
		cfg.MaxHeaderBytes = 64 << 10
	}
	if cfg.PathNormalization == PathDefault {
		cfg.PathNormalization = PathMergeSlashes
	}
	if cfg.BodyIdleTimeout == 0 {
		cfg.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.AccessLog == nil {
		cfg.AccessLog = cfg.Log
	}
	cfg.StdlibPaths = cfg.StdlibPaths || !fastPathsBuilt
	e := &Engine{
		cfg: cfg, log: cfg.Log, access: cfg.AccessLog, metrics: cfg.Metrics,
		pool:      origination.NewPool(cfg.Roots),
		listeners: map[listenerKey]*listener{},
		mirrors:   make(chan struct{}, maxMirrors),
	}
	node := cfg.NodeAddrs
	if node == nil {
		var err error
		if node, err = netguard.NodeAddrs(); err != nil {
			cfg.Log.Warn("netguard: refusing only the egress address as the node's own", zap.Error(err))
		}
	}
	guard := netguard.New(append(slices.Clip(node), cfg.EgressAddr), cfg.AllowCIDRs)
	e.dialer = &dialer{res: cfg.Resolver, guard: guard, self: cfg.EgressAddr, listening: func(port uint16) bool {
		st := e.state.Load()
		if st == nil {
			return false
		}
		_, ok := st.listeners[uint32(port)]
		return ok // dialling an ingress port is not a loop: it is a new request from outside
	}}
	e.relay.stdlib, e.relay.onPanic = cfg.StdlibPaths, e.panicked
	e.pool.OnPanic(func(err *origination.PanicError) {
		// The connection failed and its requests were answered; the process serves on.
		e.panicked("http2 upstream "+err.Loop, err.Value, err.Stack)
	})
	e.stop, e.cancel = context.WithCancel(context.Background())
	return e
}

// FastPaths reports whether the engine serves with its own fast paths
// (false: with the standard library's, Config.StdlibPaths).
func (e *Engine) FastPaths() bool { return !e.cfg.StdlibPaths }

// panicked reports a panic the engine recovered from: a bug, which ended
// the connection it happened on while the gateway served on.
func (e *Engine) panicked(where string, v any, stack []byte) {
	e.metrics.Panics.WithLabelValues(where).Inc()
	e.log.Error("recovered from a panic: the connection concerned was ended, the gateway serves on",
		zap.String("where", where), zap.Any("panic", v), zap.ByteString("stack", stack))
}

// Update provisions snap (upstreams, new listeners) and swaps it in only
// if that worked: on error the previous configuration keeps serving
// unchanged. Listeners for ports no longer registered are closed after the
// swap; their connections finish under the state they started with.
func (e *Engine) Update(snap *config.Snapshot) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stop.Err() != nil {
		return errors.New("engine is shutting down")
	}
	st, err := e.buildState(snap)
	if err != nil {
		return err
	}
	inheritOutliers(st, e.state.Load())
	want := e.wantListeners(snap)
	next := make(map[listenerKey]*listener, len(want))
	bound := map[listenerKey]*net.TCPListener{}
	for _, k := range want {
		if l, ok := e.listeners[k]; ok {
			next[k] = l
			continue
		}
		addr := netip.AddrPortFrom(e.listenAddr(k.side), uint16(k.port))
		ln, err := listenTCP(addr, e.cfg.ReusePort)
		if err != nil {
			for _, b := range bound {
				_ = b.Close()
			}
			return fmt.Errorf("listen on %s for %s port %d: %w", addr, k.portKind(), k.port, err)
		}
		bound[k] = ln
	}
	if e.cfg.Certs != nil {
		if err := e.cfg.Certs.Update(snap.Routes); err != nil {
			for _, b := range bound {
				_ = b.Close()
			}
			return fmt.Errorf("server certificates: %w", err)
		}
	}
	e.state.Store(st)
	gen := e.gen.Add(1)
	for k, ln := range bound {
		next[k] = e.startListener(k, ln)
	}
	for k, l := range e.listeners {
		if _, ok := next[k]; !ok {
			go e.closeListener(l, time.Minute)
		}
	}
	e.listeners = next
	e.pool.Retain(st.keys)
	e.metrics.ConfigGeneration.Set(float64(gen))
	e.metrics.Unserved.WithLabelValues("server").Set(float64(snap.Unserved.Servers))
	e.metrics.Unserved.WithLabelValues("reference").Set(float64(snap.Unserved.References))
	return nil
}

// listenerKey identifies a listener: its side and port (the side gives the address).
type listenerKey struct {
	side route.Side
	port uint32
}

func (k listenerKey) portKind() string {
	if k.side == route.Ingress {
		return "ingress Gateway"
	}
	return "registered"
}

func (e *Engine) listenAddr(s route.Side) netip.Addr {
	if s == route.Ingress {
		return e.cfg.IngressAddr
	}
	return e.cfg.EgressAddr
}

// wantListeners lists the listeners snap needs: one per registered egress
// port, and one per ingress Gateway port when there is an ingress address
// (without one, the Gateways are named in a warning, once per change).
func (e *Engine) wantListeners(snap *config.Snapshot) []listenerKey {
	want := make([]listenerKey, 0, len(snap.Listeners))
	for _, spec := range snap.Listeners {
		want = append(want, listenerKey{route.Egress, spec.Port})
	}
	var unserved []string
	for _, rl := range snap.Routes.Listeners() {
		if rl.Side != route.Ingress {
			continue
		}
		if !e.cfg.IngressAddr.IsValid() {
			for _, s := range rl.Servers {
				if !slices.Contains(unserved, s.Gateway) {
					unserved = append(unserved, s.Gateway)
				}
			}
			continue
		}
		want = append(want, listenerKey{route.Ingress, rl.Port})
	}
	if names := strings.Join(unserved, ", "); names != e.unserved {
		e.unserved = names
		if names != "" {
			e.log.Warn("ingress Gateways are not served: no --ingress-addr was given for their listeners", zap.String("gateways", names))
		}
	}
	return want
}

// Snapshot returns the configuration being served, or nil before the first Update.
func (e *Engine) Snapshot() *config.Snapshot {
	if st := e.state.Load(); st != nil {
		return st.snap
	}
	return nil
}

// Generation counts successful updates.
func (e *Engine) Generation() uint64 { return e.gen.Load() }

func (e *Engine) closeListener(l *listener, drain time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	l.shutdown(ctx)
}

// Shutdown stops accepting, lets requests and connections in flight finish
// until ctx is done, then closes what is left.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.mu.Lock()
	e.cancel()
	ls := e.listeners
	e.listeners = map[listenerKey]*listener{}
	e.mu.Unlock()

	var wg sync.WaitGroup
	for _, l := range ls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.shutdown(ctx)
		}()
	}
	done := make(chan struct{})
	go func() {
		wg.Wait()
		e.conns.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("drain deadline passed with connections open: closing them: %w", ctx.Err())
		e.relay.close() // relayed connections end "closed"; the listeners closed theirs (shutdown)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	e.relay.close() // nothing is relayed any more: stop the loops
	e.pool.CloseIdle()
	return err
}
