package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/netguard"
	"github.com/egressgw/egressgw/origination"
)

// Config is what an Engine is built with.
type Config struct {
	EgressAddr     netip.Addr     // listeners bind here
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

	mu        sync.Mutex           // serializes Update and Shutdown
	listeners map[uint32]*listener // guarded by mu

	conns  sync.WaitGroup  // connections in flight
	stop   context.Context // cancelled when shutdown begins
	cancel context.CancelFunc
	relay  relay // splices passthrough and TCP connections; closing it closes them
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
		listeners: map[uint32]*listener{},
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
		return ok
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
	next := make(map[uint32]*listener, len(snap.Listeners))
	bound := map[uint32]*net.TCPListener{}
	for _, spec := range snap.Listeners {
		if l, ok := e.listeners[spec.Port]; ok {
			next[spec.Port] = l
			continue
		}
		addr := netip.AddrPortFrom(e.cfg.EgressAddr, uint16(spec.Port))
		ln, err := listenTCP(addr)
		if err != nil {
			for _, b := range bound {
				_ = b.Close()
			}
			return fmt.Errorf("listen on %s for registered port %d: %w", addr, spec.Port, err)
		}
		bound[spec.Port] = ln
	}
	e.state.Store(st)
	gen := e.gen.Add(1)
	for port, ln := range bound {
		next[port] = e.startListener(port, ln)
	}
	for port, l := range e.listeners {
		if _, ok := next[port]; !ok {
			go e.closeListener(l, time.Minute)
		}
	}
	e.listeners = next
	e.pool.Retain(st.keys)
	e.metrics.ConfigGeneration.Set(float64(gen))
	return nil
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
	e.listeners = map[uint32]*listener{}
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
