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

// errorQuiet is how long after a watch error the API server's answers do
// not count as fresh data: client-go's reflector retries a broken watch
// with a backoff of at most 30 s, so a watch still broken fails again
// within this.
const errorQuiet = time.Minute

// health tracks when the API server was last heard from with every watch
// working, for /readyz's staleness limit: informers deliver changes within
// a second of the API server, so while it answers and no watch fails, the
// data is current.
type health struct {
	rest rest.Interface

	mu      sync.Mutex
	last    time.Time
	lastErr time.Time
	broken  map[string]bool // watches that failed since they last worked (for one log line each)
}

func newHealth(rc rest.Interface) *health {
	return &health{rest: rc, broken: map[string]bool{}}
}

// contact records an answer from the API server: an event, a list, a
// probe. It renews freshness unless a watch failed within errorQuiet.
func (h *health) contact() {
	h.mu.Lock()
	now := time.Now()
	if now.Sub(h.lastErr) > errorQuiet {
		h.last = now
		clear(h.broken)
	}
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
// and lists again) and counts it against freshness.
func (h *health) watchErrors(inf cache.SharedIndexInformer, what string, log *zap.Logger) {
	_ = inf.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		h.mu.Lock()
		known := h.broken[what]
		h.broken[what] = true
		h.lastErr = time.Now()
		h.mu.Unlock()
		if !known {
			log.Warn("watching the API server failed; serving the last objects seen, retrying with backoff",
				zap.String("resource", what), zap.Error(err))
		}
	})
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

// listed records a full list from every informer: the data is current.
func (h *health) listed() {
	h.mu.Lock()
	h.last = time.Now()
	h.mu.Unlock()
}
