package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/egressgw/egressgw/dnsproxy"
	"github.com/egressgw/egressgw/egress"
	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/identity"
	"github.com/egressgw/egressgw/internal/caps"
	"github.com/egressgw/egressgw/internal/linklocal"
	"github.com/egressgw/egressgw/kube"
	"github.com/egressgw/egressgw/policy"
)

// drainTimeout bounds how long SIGTERM waits for requests and connections in flight.
const drainTimeout = 20 * time.Second

func run(args []string) error {
	o, err := parseRun(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	logs, err := newLoggers(o.logFormat, o.logLevel)
	if err != nil {
		return err
	}
	defer logs.close()
	log := logs.log
	gw, err := start(o, log, logs.access)
	if err != nil {
		return err
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			log.Info("SIGHUP: reloading configuration")
			gw.requestReload()
			continue
		}
		log.Info("shutting down: no new connections; draining", zap.String("signal", sig.String()), zap.Duration("deadline", drainTimeout))
		return gw.shutdown()
	}
	return nil
}

// gateway is a running egressgw: engine, DNS interceptor, admin and watcher.
type gateway struct {
	log     *zap.Logger
	opts    *options
	engine  *egress.Engine
	metrics *egress.Metrics
	dns     *dnsproxy.Server
	admin   *http.Server
	ready   atomic.Bool
	reload  chan struct{}
	cancel  context.CancelFunc
	certs   serverCerts

	// Kubernetes (--kube): the source once synced, why it is not yet, and
	// whether a compile with its objects has been applied.
	kube        atomic.Pointer[kube.Source]
	kubeErr     atomic.Value // string
	kubeApplied atomic.Bool
	identities  atomic.Pointer[identity.Table]

	warned map[string]bool // the warnings of the configuration served, logged once
}

// start loads the configuration and starts every server. A configuration
// that does not load is fatal here: there is no last good one yet.
func start(o *options, log, access *zap.Logger) (*gateway, error) {
	// A non-root gateway's file capabilities (the image's binary) become effective here.
	if eff, err := caps.RaiseEffective(); err != nil {
		log.Warn("capabilities not raised: ports below 1024 and --egress-interface may be refused", zap.Error(err))
	} else if eff != 0 {
		log.Debug("capabilities", zap.String("effective", fmt.Sprintf("%#x", eff)))
	}
	if o.egressIface != "" { // before any listener binds --egress-addr
		r, err := linklocal.Ensure(o.egressIface, o.egressAddr)
		if err != nil {
			return nil, fmt.Errorf("--egress-interface: %w", err)
		}
		log.Info("egress interface ready", zap.String("interface", o.egressIface), zap.String("addr", o.egressAddr.String()),
			zap.Bool("created", r.Created), zap.String("kind", r.Kind))
	}
	roots, err := rootPool(o.caFile)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g := &gateway{log: log, opts: o, metrics: egress.NewMetrics(reg), reload: make(chan struct{}, 1)}
	if o.kube {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "egressgw_kube_staleness_seconds",
			Help: "Seconds since the Kubernetes API server was last heard from with every watch working (0 before the first full list); /readyz fails past --kube-max-staleness.",
		}, func() float64 {
			if src := g.kube.Load(); src != nil {
				return src.Staleness().Seconds()
			}
			return 0
		}))
	}
	if g.certs, err = newServerCerts(o, log.Named("certs")); err != nil {
		return nil, err
	}
	g.engine = egress.New(egress.Config{
		EgressAddr:  o.egressAddr,
		Resolver:    dnsproxy.NewResolver(o.dnsUpstream, 2*time.Second),
		Roots:       roots,
		Log:         log.Named("engine"),
		AccessLog:   access,
		Metrics:     g.metrics,
		AllowCIDRs:  o.allowCIDRs,
		StdlibPaths: !o.fastPaths,

		PathNormalization: o.pathNorm,
		BodyIdleTimeout:   o.bodyIdle,

		IngressAddr:    o.ingressAddr,
		TrustedProxies: o.trustedProxies,
		Certs:          g.certs,
		Identities:     g.identitiesFunc(),
		ReusePort:      o.reusePort,
	})
	adminLns, err := listenAdmin(o)
	if err != nil {
		return nil, err
	}
	g.admin = &http.Server{Handler: (&egress.Admin{Engine: g.engine, Gatherer: reg, NotReady: g.notReady, Mode: o.modeName, Pprof: o.adminPprof,
		Certificates: func() any { return g.certs.Certificates() }, Kubernetes: g.kubeStatus()}).Handler(),
		ReadHeaderTimeout: 10 * time.Second}
	for _, ln := range adminLns {
		go func() { _ = g.admin.Serve(ln) }()
	}

	snap, err := g.compile()
	if err != nil {
		g.metrics.Reloads.WithLabelValues("failure").Inc()
		logProblems(log, "configuration rejected", err)
		return nil, fmt.Errorf("configuration rejected: %w", err)
	}
	if err := g.engine.Update(snap); err != nil {
		return nil, err
	}
	g.metrics.Reloads.WithLabelValues("success").Inc()
	g.logApplied(snap, 0)

	h := dnsproxy.NewHandler(dnsproxy.Config{
		Names:               func() dnsproxy.Names { return g.engine.Snapshot().Policy }, // a dnsproxy.PodNames
		Identities:          g.identitiesFunc(),
		EgressAddr:          o.egressAddr,
		ClusterDomain:       o.clusterDomain,
		Upstream:            o.dnsUpstream,
		BlockUnregistered:   o.mode == policy.RegistryOnly,
		Log:                 log.Named("dns"),
		Metrics:             dnsproxy.NewMetrics(reg),
		ForwardMax:          o.dnsForwardMax,
		ForwardMaxPerSource: o.dnsPerSource,
	})
	g.dns = dnsproxy.NewServer(o.dnsListen, h)
	g.dns.Stdlib = !o.fastPaths
	g.dns.ReusePort = o.reusePort
	g.dns.OnPanic = func(v any, stack []byte) {
		g.metrics.Panics.WithLabelValues("dns").Inc()
		log.Error("recovered from a panic answering a DNS query: it went unanswered, the server serves on",
			zap.Any("panic", v), zap.ByteString("stack", stack))
	}
	if err := g.dns.Start(); err != nil {
		return nil, err
	}
	g.ready.Store(true)
	log.Info("serving", zap.String("egress_addr", o.egressAddr.String()), zap.String("dns", o.dnsListen),
		zap.String("dns_upstream", o.dnsUpstream), zap.String("admin", o.adminListen), zap.String("outbound_policy", o.modeName),
		zap.Stringers("allow_cidrs", o.allowCIDRs), zap.Bool("fast_paths", g.engine.FastPaths()))

	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	go g.reloads(ctx)
	if o.kube {
		go g.connectKube(ctx)
	}
	go func() {
		err := config.Watch(ctx, g.watched, g.requestReload)
		if err != nil && ctx.Err() == nil {
			log.Error("watching configuration failed: changes need SIGHUP", zap.Error(err))
		}
	}()
	return g, nil
}

// requestReload asks for a reload; requests that arrive while one is
// pending are folded into it.
func (g *gateway) requestReload() {
	select {
	case g.reload <- struct{}{}:
	default:
	}
}

func (g *gateway) configOptions() config.Options {
	return config.Options{PodLabels: g.podLabels(), ClusterDomain: g.opts.clusterDomain, Namespace: g.opts.namespace, Labels: g.opts.labels, Mode: g.opts.mode,
		IngressLabels: g.opts.ingressLabels, EgressGatewayHosts: g.opts.egressGateways,
		TrustDomain: g.opts.trustDomain, RootNamespace: g.opts.rootNamespace}
}

// watched lists the configuration paths and every file the served configuration read.
func (g *gateway) watched() []string {
	paths := append([]string(nil), g.opts.configs...)
	if s := g.engine.Snapshot(); s != nil {
		paths = append(paths, s.Files...)
	}
	return paths
}

// reloads applies configuration changes one at a time. A configuration that
// fails to load or to provision is logged and counted; the last good one
// keeps serving.
func (g *gateway) reloads(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.reload:
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(compileDelay):
		}
		select { // what arrived during the delay is in this compile
		case <-g.reload:
		default:
		}
		withKube := g.kube.Load() != nil
		began := time.Now()
		snap, err := g.compile()
		took := time.Since(began)
		if err == nil {
			err = g.engine.Update(snap)
		}
		if err != nil {
			g.metrics.Reloads.WithLabelValues("failure").Inc()
			logProblems(g.log, "configuration rejected; the last good configuration keeps serving", err)
			continue
		}
		g.metrics.Reloads.WithLabelValues("success").Inc()
		g.logApplied(snap, took)
		releaseCompileGarbage(len(snap.Resources))
		if withKube {
			g.kubeApplied.Store(true)
		}
	}
}

// logApplied logs a configuration applied, and how long its compile took
// (read, decode, validate, compile; 0 for the first).
func (g *gateway) logApplied(s *config.Snapshot, compile time.Duration) {
	g.log.Info("configuration applied", zap.Uint64("generation", g.engine.Generation()), zap.Duration("compile", compile),
		zap.Int("hosts", len(s.Entries)), zap.Int("listeners", len(s.Listeners)), zap.Int("resources", len(s.Resources)))
	// Each warning once: with the API server as a source, a compile follows
	// every change anywhere, and the same warnings would repeat each time.
	seen := make(map[string]bool, len(s.Warnings))
	for _, w := range s.Warnings {
		seen[w] = true
		if !g.warned[w] {
			g.log.Warn("configuration warning", zap.String("warning", w))
		}
	}
	g.warned = seen
}

func logProblems(log *zap.Logger, msg string, err error) {
	var cerr *config.Error
	if errors.As(err, &cerr) {
		probs := make([]string, len(cerr.Problems))
		for i, p := range cerr.Problems {
			probs[i] = p.String()
		}
		log.Error(msg, zap.Strings("problems", probs))
		return
	}
	log.Error(msg, zap.Error(err))
}

func (g *gateway) shutdown() error {
	g.ready.Store(false)
	g.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	_ = g.dns.Shutdown(ctx)
	err := g.engine.Shutdown(ctx)
	_ = g.admin.Shutdown(ctx)
	g.certs.Close()
	if err != nil {
		g.log.Warn("shutdown", zap.Error(err))
	}
	g.log.Info("stopped")
	return nil
}

func rootPool(caFile string) (*x509.CertPool, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if caFile == "" {
		return pool, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--ca-file %s: no PEM certificate found", caFile)
	}
	return pool, nil
}

// bigConfig is the number of resources past which a compile's garbage is
// returned to the system at once.
const bigConfig = 2000

// releaseCompileGarbage returns the memory a compile of n resources left
// behind to the system, for a large configuration: a compile of 10,000
// ServiceEntries allocates some 100 MB that is garbage once the snapshot is
// swapped in, and the runtime would otherwise give it back over minutes,
// or a compile every few seconds (informers) would hold it for good. One
// full collection per compile costs little next to the compile itself.
func releaseCompileGarbage(n int) {
	if n >= bigConfig {
		debug.FreeOSMemory()
	}
}
