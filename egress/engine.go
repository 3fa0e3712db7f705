package egress

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/egressgw/egressgw/egress/config"
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
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.AccessLog == nil {
		cfg.AccessLog = cfg.Log
	}
	e := &Engine{
		cfg: cfg, log: cfg.Log, access: cfg.AccessLog, metrics: cfg.Metrics,
		pool:      origination.NewPool(cfg.Roots),
		listeners: map[uint32]*listener{},
	}
	e.dialer = &dialer{res: cfg.Resolver, self: cfg.EgressAddr, listening: func(port uint16) bool {
		st := e.state.Load()
		if st == nil {
			return false
		}
		_, ok := st.listeners[uint32(port)]
		return ok
	}}
	e.pool.OnPanic(func(err *origination.PanicError) {
		// The connection failed and its requests were answered; the process serves on.
		e.log.Error("recovered a panic in an upstream HTTP/2 connection", zap.String("loop", err.Loop),
			zap.String("panic", fmt.Sprint(err.Value)), zap.ByteString("stack", err.Stack))
		e.metrics.UpstreamFailures.WithLabelValues("internal_panic").Inc()
	})
	e.stop, e.cancel = context.WithCancel(context.Background())
	return e
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
