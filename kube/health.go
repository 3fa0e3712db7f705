package kube

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// probeInterval is how often the API server's /readyz is asked when
// nothing else was heard from it.
const probeInterval = 5 * time.Second

// health tracks when the data was last known current, for /readyz's
// staleness limit: informers deliver changes within a second of the API
// server, so while it answers and no watch is broken, the data is current.
// A watch that failed is broken until its informer has synced a newer
// resource version (a list or a watch event after the failure, bookmarks
// included); until then neither events nor the probe renew freshness.
type health struct {
	rest rest.Interface

	mu     sync.Mutex
	last   time.Time
	broken map[string]brokenWatch // by what is watched
}

type brokenWatch struct {
	inf cache.SharedIndexInformer
	rv  string // its last synced resource version when it failed
}

func newHealth(rc rest.Interface) *health {
	return &health{rest: rc, broken: map[string]brokenWatch{}}
}

// pruneLocked forgets the broken watches whose informer has synced since.
func (h *health) pruneLocked() {
	for what, b := range h.broken {
		if b.inf.LastSyncResourceVersion() != b.rv {
			delete(h.broken, what)
		}
	}
}

// contact records an answer from the API server: an event, a list, a
// probe. It renews freshness unless a watch is still broken.
func (h *health) contact() {
	h.mu.Lock()
	h.pruneLocked()
	if len(h.broken) == 0 {
		h.last = time.Now()
	}
	h.mu.Unlock()
}

// listed records a full list from every informer: the data is current.
func (h *health) listed() {
	h.mu.Lock()
	h.last = time.Now()
	h.mu.Unlock()
}

// age is the time since the data was last known current; zero before the
// first contact.
func (h *health) age() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.last.IsZero() {
		return 0
	}
	return time.Since(h.last)
}

// watchErrors logs a broken watch of informer (client-go then backs off
// and lists again) and holds freshness until the informer has synced again.
func (h *health) watchErrors(inf cache.SharedIndexInformer, what string, log *zap.Logger) {
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		h.mu.Lock()
		_, known := h.broken[what]
		h.broken[what] = brokenWatch{inf: inf, rv: inf.LastSyncResourceVersion()}
		h.mu.Unlock()
		if !known {
			log.Warn("watching the API server failed; serving the last objects seen, retrying with backoff",
				zap.String("resource", what), zap.Error(err))
		}
	})
}

// forget drops a watch that was stopped: it will not sync again.
func (h *health) forget(what string) {
	h.mu.Lock()
	delete(h.broken, what)
	h.mu.Unlock()
}

// probe asks the API server's /readyz until ctx ends.
func (h *health) probe(ctx context.Context) {
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, probeInterval)
		err := h.rest.Get().AbsPath("/readyz").Do(pctx).Error()
		cancel()
		if err == nil {
			h.contact()
		}
	}
}
