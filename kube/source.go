package kube

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	istioclient "istio.io/client-go/pkg/clientset/versioned"
	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/identity"
)

// Options configure a Source.
type Options struct {
	Config *rest.Config
	Log    *zap.Logger
	// Node names this gateway's node in the Events it posts (the
	// downward API's spec.nodeName); optional.
	Node string
	// OnIdentities receives every new identity.Table: at the first sync,
	// then after pods or namespaces change (coalesced).
	OnIdentities func(*identity.Table)
}

// Source watches the API server. Create it with New, then Start.
type Source struct {
	opts    Options
	log     *zap.Logger
	client  kubernetes.Interface
	istio   istioclient.Interface
	kinds   []*kind
	missing []string
	pods    *podWatch
	secrets *secretWatch
	events  *eventReporter
	health  *health

	changed chan struct{} // capacity 1: a change not compiled yet
	synced  atomic.Bool
	skipped atomic.Pointer[[]SkippedResource] // by the last Report

	mu    sync.Mutex
	cache map[string]cachedJSON // UID -> the object's JSON at a resourceVersion
}

type cachedJSON struct {
	rv   string
	json []byte
}

// New connects to the API server (discovery: which Istio kinds it serves)
// and makes the informers; nothing is watched until Start.
func New(opts Options) (*Source, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	client, err := kubernetes.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	ic, err := istioclient.NewForConfig(opts.Config)
	if err != nil {
		return nil, fmt.Errorf("istio client: %w", err)
	}
	s := &Source{opts: opts, log: opts.Log, client: client, istio: ic, changed: make(chan struct{}, 1), cache: map[string]cachedJSON{}}
	core := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(trimObject))
	istio := istioinformers.NewSharedInformerFactoryWithOptions(ic, 0, istioinformers.WithTransform(trimObject))
	s.kinds, s.missing, err = buildKinds(client.Discovery(), core, istio)
	if err != nil {
		return nil, err
	}
	s.health = newHealth(client.Discovery().RESTClient())
	for _, k := range s.kinds {
		if _, err := k.informer.AddEventHandler(s.handler()); err != nil {
			return nil, fmt.Errorf("watch %s: %w", k.gvr, err)
		}
		s.health.watchErrors(k.informer, k.gvr.String(), s.log)
	}
	s.pods, err = newPodWatch(client, s.log, s.health, opts.OnIdentities, s.poke)
	if err != nil {
		return nil, err
	}
	s.secrets = newSecretWatch(client, s.log, s.health, s.poke)
	s.events = newEventReporter(client, opts.Node, s.log)
	return s, nil
}

// handler pokes the compile loop on every add, update and delete.
func (s *Source) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { s.seen() },
		UpdateFunc: func(_, _ any) { s.seen() },
		DeleteFunc: func(any) { s.seen() },
	}
}

func (s *Source) seen() {
	s.health.contact()
	s.poke()
}

func (s *Source) poke() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

// Missing lists the Istio kinds the API server does not serve (their CRDs
// are not installed); they are read from files only.
func (s *Source) Missing() []string { return s.missing }

// NowServed asks the API server again for the kinds that were missing and
// returns those it serves now (their CRDs were installed since): a new
// Source watches them.
func (s *Source) NowServed() []string {
	var now []string
	d := newDiscovery(s.client.Discovery())
	for _, k := range istioKinds {
		if slices.Contains(s.missing, k.kind) && d.served(k) != "" {
			now = append(now, k.kind)
		}
	}
	return now
}

// Start starts every informer; they stop when ctx is done.
func (s *Source) Start(ctx context.Context) {
	for _, k := range s.kinds {
		go k.informer.RunWithContext(ctx)
	}
	s.pods.start(ctx)
	go s.health.probe(ctx)
	go func() {
		<-ctx.Done()
		s.secrets.stopAll()
		s.events.stop()
	}()
}

// WaitForSync waits until every informer has listed once. A Source that
// has synced stays synced: later gaps are what Staleness measures.
func (s *Source) WaitForSync(ctx context.Context) error {
	syncs := []cache.InformerSynced{s.pods.synced}
	for _, k := range s.kinds {
		syncs = append(syncs, k.informer.HasSynced)
	}
	if !cache.WaitForCacheSync(ctx.Done(), syncs...) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("waiting for the first list from the API server: %w", err)
		}
		return errors.New("waiting for the first list from the API server: stopped")
	}
	s.health.listed()
	s.pods.publish()
	s.synced.Store(true)
	return nil
}

// PodLabels returns the labels of pod namespace/name, nil if it is not
// known (config.Options.PodLabels). A change of a pod's labels pokes Changed.
func (s *Source) PodLabels(namespace, name string) map[string]string {
	return s.pods.labels(namespace, name)
}

// Synced reports whether the first full list has arrived.
func (s *Source) Synced() bool { return s.synced.Load() }

// Staleness is how long ago the API server was last heard from (an event,
// a successful list, or the health probe), and whether a watch is broken
// now.
func (s *Source) Staleness() time.Duration { return s.health.age() }

// Changed receives when objects changed since the last Objects call began.
func (s *Source) Changed() <-chan struct{} { return s.changed }

// WantSecrets sets the Secrets to watch ("namespace/name"): those the
// configuration's credentialNames look for. A new one is watched and
// pokes Changed when it arrives.
func (s *Source) WantSecrets(refs []string) { s.secrets.want(refs) }

// Objects returns every watched object as JSON, in a stable order (kind,
// then namespace/name as the informers' stores list them).
func (s *Source) Objects() []config.APIObject {
	var out []config.APIObject
	s.mu.Lock()
	defer s.mu.Unlock()
	next := make(map[string]cachedJSON, len(s.cache))
	add := func(apiVersion, kind string, obj any) {
		m, ok := obj.(metav1.Object)
		if !ok {
			return
		}
		uid, rv := string(m.GetUID()), m.GetResourceVersion()
		c, ok := s.cache[uid]
		if !ok || c.rv != rv {
			j, err := objectJSON(apiVersion, kind, obj)
			if err != nil {
				s.log.Warn("cannot encode an object from the API server; it is left out", zap.String("kind", kind),
					zap.String("name", m.GetNamespace()+"/"+m.GetName()), zap.Error(err))
				return
			}
			c = cachedJSON{rv: rv, json: j}
		}
		next[uid] = c
		out = append(out, config.APIObject{JSON: c.json, UID: uid})
	}
	for _, k := range s.kinds {
		for _, obj := range sortedList(k.informer.GetStore()) {
			add(k.apiVersion, k.kind, obj)
		}
	}
	for _, obj := range s.secrets.list() {
		add("v1", "Secret", obj)
	}
	s.cache = next
	return out
}

// Report posts an Event on each API resource the compile skipped, once per
// resource version and message, and forgets resources no longer skipped.
func (s *Source) Report(objs []config.APIObject, skipped []config.Skipped) {
	s.events.report(objs, skipped)
	out := make([]SkippedResource, len(skipped))
	for i, sk := range skipped {
		out[i].Resource = sk.Resource
		for _, p := range sk.Problems {
			out[i].Problems = append(out[i].Problems, p.String())
		}
	}
	s.skipped.Store(&out)
}

// SkippedResource is an API resource the last compile left out.
type SkippedResource struct {
	Resource string   `json:"resource"`
	Problems []string `json:"problems"`
}

// Status is what /config_dump shows of the API server as a source.
type Status struct {
	Server           string            `json:"server"`
	Synced           bool              `json:"synced"`
	StalenessSeconds float64           `json:"staleness_seconds"` // since the API server was last heard from with every watch working
	Watched          []string          `json:"watched"`           // resource@version of every informer
	FilesOnlyKinds   []string          `json:"files_only_kinds,omitempty"`
	SecretsWatched   []string          `json:"secrets_watched,omitempty"`
	Skipped          []SkippedResource `json:"skipped,omitempty"`
}

// Status reports the Source's state.
func (s *Source) Status() Status {
	st := Status{Server: s.opts.Config.Host, Synced: s.Synced(), StalenessSeconds: s.Staleness().Seconds(),
		FilesOnlyKinds: s.missing, SecretsWatched: s.secrets.names()}
	for _, k := range s.kinds {
		st.Watched = append(st.Watched, k.gvr.Resource+"."+k.gvr.Group+"/"+k.gvr.Version)
	}
	st.Watched = append(st.Watched, "pods/v1", "namespaces/v1")
	if p := s.skipped.Load(); p != nil {
		st.Skipped = *p
	}
	return st
}
