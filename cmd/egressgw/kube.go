package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/identity"
	"github.com/egressgw/egressgw/kube"
)

// compileDelay gathers a burst of changes (an apply of many resources,
// informers' first list) into one compile.
const compileDelay = 50 * time.Millisecond

// connectKube connects to the API server, retrying with backoff while it
// is unreachable, starts the informers, waits for their first full list
// and asks for a compile. Until then /readyz says what it waits for and
// the files alone serve. When CRDs missing at start are installed, a new
// Source that watches them takes over once it has synced.
func (g *gateway) connectKube(ctx context.Context) {
	log := g.log.Named("kube")
	cfg, err := kube.RESTConfig(g.opts.kubeconfig)
	if err != nil {
		g.kubeErr.Store(err.Error())
		log.Error("cannot read from the Kubernetes API server; serving the files only", zap.Error(err))
		return
	}
	var stopOld context.CancelFunc
	for {
		src := g.newSource(ctx, cfg, log)
		if src == nil {
			return
		}
		srcCtx, stop := context.WithCancel(ctx)
		src.Start(srcCtx)
		if g.kube.Load() == nil {
			g.kubeErr.Store("waiting for the first list of every watched kind from the API server " + cfg.Host)
		}
		if err := src.WaitForSync(srcCtx); err != nil {
			stop()
			return
		}
		g.kube.Store(src)
		g.kubeErr.Store("")
		if stopOld != nil {
			stopOld() // the new Source serves from here on
		}
		stopOld = stop
		log.Info("watching the Kubernetes API server", zap.String("server", cfg.Host), zap.Strings("files_only_kinds", src.Missing()))
		g.requestReload()
		if !g.follow(ctx, src, log) {
			return
		}
	}
}

// newSource connects, retrying with backoff; nil when ctx ends first.
func (g *gateway) newSource(ctx context.Context, cfg *rest.Config, log *zap.Logger) *kube.Source {
	backoff := time.Second
	for {
		src, err := kube.New(kube.Options{Config: cfg, Log: log, Node: g.opts.nodeName,
			OnIdentities: func(t *identity.Table) { g.identities.Store(t) }})
		if err == nil {
			if m := src.Missing(); len(m) > 0 {
				log.Warn("the API server serves no CustomResourceDefinition for these Istio kinds (Istio's CRDs are not installed): they are read from files only until they are",
					zap.Strings("kinds", m), zap.Duration("checked_every", g.opts.crdRecheck))
			}
			return src
		}
		if g.kube.Load() == nil {
			g.kubeErr.Store(fmt.Sprintf("connecting to the API server %s: %v", cfg.Host, err))
		}
		log.Warn("connecting to the Kubernetes API server failed; retrying", zap.String("server", cfg.Host), zap.Duration("in", backoff), zap.Error(err))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

// follow asks for a compile on every change of src until ctx ends (false)
// or a kind src could not watch is served now (true: time for a new Source).
func (g *gateway) follow(ctx context.Context, src *kube.Source, log *zap.Logger) bool {
	var recheck <-chan time.Time
	if len(src.Missing()) > 0 {
		t := time.NewTicker(g.opts.crdRecheck)
		defer t.Stop()
		recheck = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return false
		case <-src.Changed():
			g.requestReload()
		case <-recheck:
			if now := src.NowServed(); len(now) > 0 {
				log.Info("CustomResourceDefinitions installed: watching these kinds too", zap.Strings("kinds", now))
				return true
			}
		}
	}
}

// compile compiles the files and, once synced, the API server's objects;
// it reports skipped API resources as Events and watches the Secrets the
// configuration looks for.
func (g *gateway) compile() (*config.Snapshot, error) {
	src := g.kube.Load()
	var objs []config.APIObject
	if src != nil {
		objs = src.Objects()
	}
	snap, skipped, err := config.Compile(g.opts.configs, objs, g.configOptions())
	if src != nil {
		src.Report(objs, skipped)
		if err == nil {
			src.WantSecrets(snap.SecretRefs)
		}
	}
	g.metrics.SkippedResources.Set(float64(len(skipped)))
	return snap, err
}

// notReady says why /readyz fails, "" when ready.
func (g *gateway) notReady() string {
	if !g.ready.Load() {
		return "configuration not loaded or listeners not bound"
	}
	if !g.opts.kube {
		return ""
	}
	src := g.kube.Load()
	if src == nil {
		if why, _ := g.kubeErr.Load().(string); why != "" {
			return why
		}
		return "not connected to the Kubernetes API server yet"
	}
	if !g.kubeApplied.Load() {
		return "the API server's configuration is not applied yet"
	}
	if age := src.Staleness(); age > g.opts.kubeStaleness {
		return fmt.Sprintf("the API server has not been heard from (or a watch has been failing) for %v, more than --kube-max-staleness %v; the last configuration keeps serving",
			age.Round(time.Second), g.opts.kubeStaleness)
	}
	return ""
}

// identitiesFunc is how the engine and the DNS interceptor read the pods:
// nil without Kubernetes, so that a gateway serving files only decides and
// logs as it always has. With it, the table is nil until the first list of
// pods, which the engine takes as no table (and /readyz is not ready yet).
func (g *gateway) identitiesFunc() func() *identity.Table {
	if !g.opts.kube {
		return nil
	}
	return g.identities.Load
}

// kubeStatus is /config_dump's "kubernetes": nil without --kube.
func (g *gateway) kubeStatus() func() any {
	if !g.opts.kube {
		return nil
	}
	return func() any {
		src := g.kube.Load()
		if src == nil {
			why, _ := g.kubeErr.Load().(string)
			return map[string]any{"synced": false, "waiting": why}
		}
		return src.Status()
	}
}

// podLabels is config.Options.PodLabels: the API server's pods, nil
// without --kube.
func (g *gateway) podLabels() func(namespace, name string) map[string]string {
	if !g.opts.kube {
		return nil
	}
	return func(namespace, name string) map[string]string {
		if src := g.kube.Load(); src != nil {
			return src.PodLabels(namespace, name)
		}
		return nil
	}
}
