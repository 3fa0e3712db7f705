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
	outcomeForwardLimited
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"intercepted", "forwarded", "blocked", "upstream_error", "malformed", "forward_limited"}

func (o outcome) String() string { return outcomeNames[o] }

// Metrics counts what the Handler does. A nil *Metrics records nothing.
// It is immutable after NewMetrics and safe for concurrent use.
type Metrics struct {
	queries     [numOutcomes]prometheus.Counter
	limitedBy   [3]prometheus.Counter // by overLimit: overGlobal, overSource
	upstreamUDP prometheus.Observer
	upstreamTCP prometheus.Observer
}

// NewMetrics registers the DNS metrics with reg:
//
//	egressgw_dns_queries_total{outcome="intercepted|forwarded|blocked|upstream_error|malformed|forward_limited"}
//	egressgw_dns_forward_limited_total{limit="global|source"}
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
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "egressgw", Subsystem: "dns", Name: "forward_limited_total",
		Help: "DNS queries answered SERVFAIL because forwarding them would have exceeded a bound of queries in flight (--dns-forward-max, --dns-forward-max-per-source), by bound.",
	}, []string{"limit"})
	reg.MustRegister(queries, upstream, limited)

	// Label values are resolved once here: counting does no map look-up.
	m := &Metrics{
		upstreamUDP: upstream.WithLabelValues("udp"),
		upstreamTCP: upstream.WithLabelValues("tcp"),
	}
	for o := range numOutcomes {
		m.queries[o] = queries.WithLabelValues(o.String())
	}
	m.limitedBy[overGlobal] = limited.WithLabelValues("global")
	m.limitedBy[overSource] = limited.WithLabelValues("source")
	return m
}

// limited counts a query refused by the bound over.
func (m *Metrics) limited(over overLimit) {
	if m != nil {
		m.queries[outcomeForwardLimited].Inc()
		m.limitedBy[over].Inc()
	}
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
