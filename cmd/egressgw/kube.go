package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

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
// the files alone serve.
func (g *gateway) connectKube(ctx context.Context) {
	log := g.log.Named("kube")
	cfg, err := kube.RESTConfig(g.opts.kubeconfig)
	if err != nil {
		g.kubeErr.Store(err.Error())
		log.Error("cannot read from the Kubernetes API server; serving the files only", zap.Error(err))
		return
	}
	backoff := time.Second
	var src *kube.Source
	for {
		src, err = kube.New(kube.Options{Config: cfg, Log: log, Node: g.opts.nodeName,
			OnIdentities: func(t *identity.Table) { g.identities.Store(t) }})
		if err == nil {
			break
		}
		g.kubeErr.Store(fmt.Sprintf("connecting to the API server %s: %v", cfg.Host, err))
		log.Warn("connecting to the Kubernetes API server failed; retrying", zap.String("server", cfg.Host), zap.Duration("in", backoff), zap.Error(err))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	if m := src.Missing(); len(m) > 0 {
		log.Warn("the API server serves no CustomResourceDefinition for these Istio kinds (Istio's CRDs are not installed): they are read from files only; restart egressgw after installing them",
			zap.Strings("kinds", m))
	}
	src.Start(ctx)
	g.kubeErr.Store("waiting for the first list of every watched kind from the API server " + cfg.Host)
	if err := src.WaitForSync(ctx); err != nil {
		return
	}
	g.kube.Store(src)
	g.kubeErr.Store("")
	log.Info("watching the Kubernetes API server", zap.String("server", cfg.Host))
	g.requestReload()
	for {
		select {
		case <-ctx.Done():
			return
		case <-src.Changed():
			g.requestReload()
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
