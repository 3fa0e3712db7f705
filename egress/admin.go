package egress

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/egressgw/egressgw/egress/config"
)

// Admin serves /healthz, /readyz, /metrics, /config_dump and, with Pprof,
// Go's profiles under /debug/pprof/. It is meant for a loopback address:
// the configuration dump and the profiles are for the node's operator, not
// for its pods.
type Admin struct {
	Engine   *Engine
	Gatherer prometheus.Gatherer
	Ready    *atomic.Bool // set once the first configuration is served and every listener is bound
	// NotReady, when set, replaces Ready: it says why the gateway is not
	// ready, "" when it is.
	NotReady func() string
	Mode     string // outbound traffic policy, for the dump
	Pprof    bool   // serve /debug/pprof/ (--admin-pprof); off, it answers 404 naming the flag
	// Certificates lists the server certificates in use (never keys); nil: none.
	Certificates func() any
	// Kubernetes is the state of the API server as a source (nil: files only).
	Kubernetes func() any
}

// pprofOff is the body of /debug/pprof/ when profiles are not served.
const pprofOff = "egressgw: /debug/pprof/ is off: start egressgw with --admin-pprof to serve Go's profiles on the admin address\n"

// Handler returns the admin mux.
func (a *Admin) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if a.NotReady != nil {
			if why := a.NotReady(); why != "" {
				http.Error(w, "not ready: "+why, http.StatusServiceUnavailable)
				return
			}
		} else if !a.Ready.Load() {
			http.Error(w, "not ready: configuration not loaded or listeners not bound", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /config_dump", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		st := a.Engine.state.Load()
		var snap *config.Snapshot
		if st != nil {
			snap = st.snap
		}
		d := dump(snap, a.Engine.Generation(), a.Mode)
		st.dumpEjected(d.Clusters)
		if a.Certificates != nil {
			d.Certificates = a.Certificates()
		}
		if a.Kubernetes != nil {
			d.Kubernetes = a.Kubernetes()
		}
		_ = enc.Encode(d)
	})
	if !a.Pprof {
		mux.HandleFunc("/debug/pprof/", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(pprofOff))
		})
		return mux
	}
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	return mux
}

type configDump struct {
	Generation            uint64              `json:"generation"`
	OutboundTrafficPolicy string              `json:"outboundTrafficPolicy"`
	Listeners             []listenerDump      `json:"listeners"`
	Entries               []entryDump         `json:"entries"`
	Warnings              []string            `json:"warnings"`
	Resources             []config.Resource   `json:"resources"`
	Routes                []routeListenerDump `json:"routes,omitempty"`
	Clusters              []clusterDump       `json:"clusters,omitempty"`
	Certificates          any                 `json:"certificates,omitempty"`
	Kubernetes            any                 `json:"kubernetes,omitempty"`
}

type listenerDump struct {
	Port uint32 `json:"port"`
	Kind string `json:"kind"`
}

type entryDump struct {
	Source     string     `json:"source"`
	Host       string     `json:"host"`
	Target     string     `json:"target,omitempty"`
	Resolution string     `json:"resolution"`
	Endpoints  []string   `json:"endpoints,omitempty"`
	Ports      []portDump `json:"ports"`
}

type portDump struct {
	Number     uint32 `json:"number"`
	Protocol   string `json:"protocol"`
	TargetPort uint32 `json:"targetPort"`
	Cluster    string `json:"cluster"`
	TLS        string `json:"tlsOrigination,omitempty"` // where the TLS settings came from; key material is never dumped
}

func dump(s *config.Snapshot, gen uint64, mode string) configDump {
	d := configDump{Generation: gen, OutboundTrafficPolicy: mode}
	if s == nil {
		return d
	}
	for _, l := range s.Listeners {
		kind := "sniff (TLS passthrough or HTTP)"
		if l.Kind == config.ListenerTCP {
			kind = "tcp"
		}
		d.Listeners = append(d.Listeners, listenerDump{Port: l.Port, Kind: kind})
	}
	for _, e := range s.Entries {
		ed := entryDump{Source: e.Source, Host: e.Host, Target: e.Target, Resolution: [...]string{"NONE", "STATIC", "DNS"}[e.Resolution]}
		for _, ep := range e.Endpoints {
			ed.Endpoints = append(ed.Endpoints, ep.Address)
		}
		for _, p := range e.Ports {
			pd := portDump{Number: p.Number, Protocol: protocolName(p.Protocol), TargetPort: p.TargetPort, Cluster: p.Cluster}
			if p.TLS != nil {
				mode := "SIMPLE"
				if p.TLS.Mutual {
					mode = "MUTUAL"
				}
				pd.TLS = mode + " from " + p.TLS.Source
			}
			ed.Ports = append(ed.Ports, pd)
		}
		d.Entries = append(d.Entries, ed)
	}
	d.Warnings = s.Warnings
	d.Resources = s.Resources
	d.Routes, d.Clusters = dumpRoutes(s)
	return d
}
