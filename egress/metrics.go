package egress

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the engine's Prometheus series. Host labels carry the
// registered host pattern (or "unregistered"), never the requested name,
// so a wildcard cannot grow the series without bound.
type Metrics struct {
	Requests         *prometheus.CounterVec // listener, host, decision, status
	Connections      *prometheus.CounterVec // listener, host, decision, close
	UpstreamFailures *prometheus.CounterVec // cause
	Guarded          *prometheus.CounterVec // class: requests and connections netguard refused
	ActiveConns      prometheus.Gauge
	Reloads          *prometheus.CounterVec // result
	ConfigGeneration prometheus.Gauge
	Panics           *prometheus.CounterVec // where: what recovered (connection, relay loop, relay connection)
	RouteRequests    *prometheus.CounterVec // direction, gateway, virtual_service, route, status: requests a VirtualService route took
	Mirrors          *prometheus.CounterVec // result: mirrored copies sent, failed, dropped, skipped_body_too_large
	Unserved         *prometheus.GaugeVec   // kind: Gateway servers and routes of the configuration being served that are not served (each named in a warning)
	SkippedResources prometheus.Gauge       // resources from the API server left out of the last compile as invalid (each has an Event)
	// By source pod, only with Config.Identities: direction,
	// source_namespace, source_workload, decision. Both are bounded (the
	// cluster's namespaces and workloads, not its pods: no pod name).
	SourceRequests    *prometheus.CounterVec
	SourceConnections *prometheus.CounterVec
}

// NewMetrics registers the engine's series on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_requests_total", Help: "HTTP requests by direction (ingress, egress), listener port, registered host (or route destination), decision and status.",
		}, []string{"direction", "listener", "host", "decision", "status"}),
		Connections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_connections_total", Help: "TLS passthrough and TCP connections by direction (ingress, egress), listener port, registered host (or route destination), decision and close reason.",
		}, []string{"direction", "listener", "host", "decision", "close"}),
		UpstreamFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_upstream_failures_total", Help: "Upstream connect and TLS failures by cause.",
		}, []string{"cause"}),
		Guarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_netguard_denied_total", Help: "Requests and connections refused because the name resolved to an address netguard refuses, by address class.",
		}, []string{"class"}),
		ActiveConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egressgw_active_connections", Help: "Client connections open now.",
		}),
		Reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_config_reloads_total", Help: "Configuration loads by result (success, failure).",
		}, []string{"result"}),
		ConfigGeneration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egressgw_config_generation", Help: "Generation of the configuration being served.",
		}),
		Panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_recovered_panics_total", Help: "Panics recovered from (a bug: the connection concerned was ended, the gateway served on), by where they happened.",
		}, []string{"where"}),
		RouteRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_route_requests_total", Help: "HTTP requests that followed a VirtualService route, by direction, Gateway, VirtualService, route and status.",
		}, []string{"direction", "gateway", "virtual_service", "route", "status"}),
		Mirrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_mirrored_requests_total", Help: "Mirrored copies of requests (VirtualService mirror) by result: sent, failed, dropped (too many in flight), skipped_body_too_large (a request body over 64 KiB is not buffered for a copy).",
		}, []string{"result"}),
		Unserved: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "egressgw_config_unserved", Help: "Gateway servers and VirtualService routes of the configuration being served that are not served (a conflict, a missing Gateway or destination): each is named in a warning of /config_dump and the log.",
		}, []string{"kind"}),
		SkippedResources: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "egressgw_kube_skipped_resources", Help: "Resources read from the Kubernetes API server that the last compile left out as invalid: each has a Warning Event naming the field.",
		}),
		SourceRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_source_requests_total", Help: "HTTP requests by direction, source pod's namespace and workload (\"unknown\" for an address no pod holds) and decision; only when pods are known (Kubernetes).",
		}, []string{"direction", "source_namespace", "source_workload", "decision"}),
		SourceConnections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "egressgw_source_connections_total", Help: "TLS passthrough and TCP connections by direction, source pod's namespace and workload (\"unknown\" for an address no pod holds) and decision; only when pods are known (Kubernetes).",
		}, []string{"direction", "source_namespace", "source_workload", "decision"}),
	}
	reg.MustRegister(m.SourceRequests, m.SourceConnections, m.Requests, m.Connections, m.UpstreamFailures, m.Guarded, m.ActiveConns, m.Reloads, m.ConfigGeneration, m.Panics,
		m.RouteRequests, m.Mirrors, m.Unserved, m.SkippedResources)
	m.Reloads.WithLabelValues("success")
	m.Reloads.WithLabelValues("failure")
	return m
}
