package kube

import (
	"context"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.uber.org/zap"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// secretWatch watches each referenced Secret by name (a field-selected
// list and watch in its namespace), never every Secret of the cluster:
// the gateway only ever sees the Secrets its configuration names.
type secretWatch struct {
	client  kubernetes.Interface
	log     *zap.Logger
	health  *health
	changed func()

	mu      sync.Mutex
	watches map[string]*oneSecret // "namespace/name"
}

type oneSecret struct {
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
}

func newSecretWatch(client kubernetes.Interface, log *zap.Logger, h *health, changed func()) *secretWatch {
	return &secretWatch{client: client, log: log, health: h, changed: changed, watches: map[string]*oneSecret{}}
}

// want watches exactly refs: new ones start, others stop (a Secret no
// longer referenced leaves the next compile).
func (w *secretWatch) want(refs []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := map[string]bool{}
	for _, ref := range refs {
		ns, name, ok := strings.Cut(ref, "/")
		if !ok || ns == "" || name == "" {
			continue
		}
		keep[ref] = true
		if w.watches[ref] != nil {
			continue
		}
		w.watches[ref] = w.start(ns, name)
	}
	removed := false
	for ref, s := range w.watches {
		if !keep[ref] {
			s.cancel()
			delete(w.watches, ref)
			w.health.forget("secret " + ref)
			removed = true
		}
	}
	if removed {
		w.changed()
	}
}

func (w *secretWatch) start(ns, name string) *oneSecret {
	f := informers.NewSharedInformerFactoryWithOptions(w.client, 0, informers.WithNamespace(ns),
		informers.WithTransform(trimObject),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
		}))
	inf := f.Core().V1().Secrets().Informer()
	onChange := func() { w.health.contact(); w.changed() }
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { onChange() },
		UpdateFunc: func(_, _ any) { onChange() },
		DeleteFunc: func(any) { onChange() },
	})
	w.health.watchErrors(inf, "secret "+ns+"/"+name, w.log)
	ctx, cancel := context.WithCancel(context.Background())
	go inf.RunWithContext(ctx)
	return &oneSecret{informer: inf, cancel: cancel}
}

// list returns every watched Secret that exists, by namespace/name.
func (w *secretWatch) list() []any {
	w.mu.Lock()
	refs := make([]string, 0, len(w.watches))
	for ref := range w.watches {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	var out []any
	for _, ref := range refs {
		out = append(out, w.watches[ref].informer.GetStore().List()...)
	}
	w.mu.Unlock()
	return out
}

// names lists the Secrets watched, by namespace/name.
func (w *secretWatch) names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Sorted(maps.Keys(w.watches))
}

func (w *secretWatch) stopAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ref, s := range w.watches {
		s.cancel()
		delete(w.watches, ref)
	}
}
