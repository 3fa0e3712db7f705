package egress

import (
	"net/netip"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/egressgw/egressgw/identity"
	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

// client is what the gateway knows of a client connection's source pod,
// looked up once per connection (Config.Identities).
type client struct {
	pod   *identity.Pod // nil: no known pod holds the address
	known bool          // a pod table was consulted: a nil pod is an unknown pod
	// gateway: the gateway itself is the client, for a Gateway-bound
	// route's destination: the DestinationRule its own namespace sees.
	gateway  bool
	counters *sourceCounters // the connection's, for its requests; nil: none kept
}

// clientOf looks up the pod holding address a.
func (e *Engine) clientOf(a netip.Addr) client {
	if e.cfg.Identities == nil {
		return client{}
	}
	t := e.cfg.Identities()
	if t == nil {
		return client{}
	}
	return client{pod: t.Lookup(a), known: true}
}

// query is a policy.Query for a request or connection from cl.
func (cl client) query(host string, port uint32, src netip.Addr) policy.Query {
	return policy.Query{Host: host, Port: port, Source: src, Identities: cl.known, Pod: cl.pod}
}

// source is cl for mesh routes' exportTo: scoped when a pod table was
// consulted, in the pod's namespace ("" for an unknown pod).
func (cl client) source() route.Source {
	if cl.pod == nil {
		return route.Source{Scoped: cl.known}
	}
	return route.Source{Namespace: cl.pod.Namespace, Scoped: true}
}

// unknownPod is the access log's source_pod for an address no pod holds.
const unknownPod = "unknown pod"

// logFields are the access log's source_namespace and source_pod: nothing
// (zap.Skip) without a pod table, so that a gateway serving files only
// logs as before.
func (cl client) logFields() (ns, pod zap.Field) {
	switch {
	case !cl.known:
		return zap.Skip(), zap.Skip()
	case cl.pod == nil:
		return zap.String("source_namespace", ""), zap.String("source_pod", unknownPod)
	default:
		return zap.String("source_namespace", cl.pod.Namespace), zap.String("source_pod", cl.pod.Name)
	}
}

// sourceCounters are a connection's egressgw_source_requests_total
// counters, allowed and denied, each made on first use: a request then
// costs one atomic load and add, as the other counters' fast path.
type sourceCounters [2]atomic.Pointer[prometheus.Counter]

// count counts one request or connection of cl in vec. cs, when not nil,
// keeps the counters for the connection's next requests.
func (cl client) count(vec *prometheus.CounterVec, cs *sourceCounters, side route.Side, deny bool) {
	if !cl.known {
		return
	}
	i := 0
	if deny {
		i = 1
	}
	if cs != nil {
		if c := cs[i].Load(); c != nil {
			(*c).Inc()
			return
		}
	}
	ns, wl := "unknown", "unknown"
	if cl.pod != nil {
		ns, wl = cl.pod.Namespace, cl.pod.Workload
	}
	decision := "allow"
	if deny {
		decision = "deny"
	}
	c := vec.WithLabelValues(side.String(), ns, wl, decision)
	if cs != nil {
		cs[i].Store(&c)
	}
	c.Inc()
}
