package dnsproxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outcome is what became of one query; its name is the value of the
// outcome label of egressgw_dns_queries_total.
type outcome uint8

const (
	outcomeIntercepted outcome = iota
	outcomeForwarded
	outcomeBlocked
	outcomeUpstreamError
	outcomeMalformed
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"intercepted", "forwarded", "blocked", "upstream_error", "malformed"}

func (o outcome) String() string { return outcomeNames[o] }

// Metrics counts what the Handler does. A nil *Metrics records nothing.
// It is immutable after NewMetrics and safe for concurrent use.
type Metrics struct {
	queries     [numOutcomes]prometheus.Counter
	upstreamUDP prometheus.Observer
	upstreamTCP prometheus.Observer
}

// NewMetrics registers the DNS metrics with reg:
//
//	egressgw_dns_queries_total{outcome="intercepted|forwarded|blocked|upstream_error|malformed"}
//	egressgw_dns_upstream_duration_seconds{transport="udp|tcp"}
//
// It panics if they are already registered, as prometheus.MustRegister does.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	queries := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "egressgw", Subsystem: "dns", Name: "queries_total",
		Help: "DNS queries answered by the gateway, by outcome.",
	}, []string{"outcome"})
	upstream := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "egressgw", Subsystem: "dns", Name: "upstream_duration_seconds",
		Help:    "Duration of one exchange with the upstream resolver, by transport.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"transport"})
	reg.MustRegister(queries, upstream)

	// Label values are resolved once here: counting does no map look-up.
	m := &Metrics{
		upstreamUDP: upstream.WithLabelValues("udp"),
		upstreamTCP: upstream.WithLabelValues("tcp"),
	}
	for o := range numOutcomes {
		m.queries[o] = queries.WithLabelValues(o.String())
	}
	return m
}

func (m *Metrics) count(o outcome) {
	if m != nil {
		m.queries[o].Inc()
	}
}

func (m *Metrics) observeUpstream(tcp bool, d time.Duration) {
	if m == nil {
		return
	}
	if tcp {
		m.upstreamTCP.Observe(d.Seconds())
	} else {
		m.upstreamUDP.Observe(d.Seconds())
	}
}
