package egress

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/egressgw/egressgw/balance"
	"github.com/egressgw/egressgw/egress/config"
)

// endpoints are a route destination's endpoints, balanced one request at a
// time as its DestinationRule's loadBalancer and outlierDetection say:
// each endpoint is an upstream of its own (its own connection pools, as
// Envoy keeps a pool per host), and set picks among them.
type endpoints struct {
	set  *balance.Set
	eps  []*upstream // index = the set's endpoint index
	keys []string    // per endpoint: "address:port" it is dialled at, which identifies it across reloads
	lb   config.LBSettings
}

// newEndpoints builds the balanced endpoints of a cluster whose entry has
// more than one endpoint, or outlier detection; nil otherwise (the
// upstream dials its target as egress does).
func (e *Engine) newEndpoints(st *state, ent *config.Entry, p *config.Port, name string) (*endpoints, error) {
	if len(ent.Endpoints) < 2 && !(len(ent.Endpoints) == 1 && p.Outlier.Enabled) {
		return nil, nil
	}
	policy := map[config.LBPolicy]balance.Policy{
		config.LBLeastRequest: balance.LeastRequest, config.LBRoundRobin: balance.RoundRobin, config.LBRandom: balance.Random,
		config.LBPassthrough: balance.RoundRobin, config.LBConsistentHash: balance.ConsistentHash,
	}[p.LB.Policy]
	var out balance.Outlier
	if o := p.Outlier; o.Enabled {
		out = balance.Outlier{Consecutive5xx: int(o.Consecutive5xx), ConsecutiveGatewayErrors: int(o.ConsecutiveGatewayErrors),
			Interval: o.Interval, BaseEjection: o.BaseEjectionTime, MaxEjectionPercent: o.MaxEjectionPercent}
	}
	eps := &endpoints{set: balance.New(len(ent.Endpoints), balance.Config{Policy: policy, Outlier: out}), lb: p.LB}
	for i := range ent.Endpoints {
		one := *ent
		one.Endpoints = ent.Endpoints[i : i+1 : i+1]
		u, err := e.newUpstream(st, &one, p)
		if err != nil {
			return nil, err
		}
		u.cluster = name
		eps.eps = append(eps.eps, u)
		port := p.TargetPort
		if n := ent.Endpoints[i].Ports[p.Name]; n != 0 {
			port = n
		}
		eps.keys = append(eps.keys, net.JoinHostPort(ent.Endpoints[i].Address, strconv.Itoa(int(port))))
	}
	return eps, nil
}

// inherit carries the outlier state (ejections, error runs) of the
// endpoints of old, the same cluster in the configuration being replaced,
// that eps still has (the same address and port).
func (eps *endpoints) inherit(old *endpoints) {
	if old == nil {
		return
	}
	from := make([]int, len(eps.keys))
	for i, k := range eps.keys {
		from[i] = slices.Index(old.keys, k)
	}
	eps.set.Inherit(old.set, from)
}

// inheritOutliers carries the outlier state of old's clusters into st's
// clusters of the same name (st is not in use yet).
func inheritOutliers(st, old *state) {
	if old == nil {
		return
	}
	prev := make(map[string]*endpoints, len(old.clusters))
	for _, u := range old.clusters {
		if u != nil && u.endpoints != nil {
			prev[u.cluster] = u.endpoints
		}
	}
	for _, u := range st.clusters {
		if u != nil && u.endpoints != nil {
			u.endpoints.inherit(prev[u.cluster])
		}
	}
}

// pick chooses the endpoint for r and counts it busy until done is called
// with the request's status. A cookie hash policy with a ttl sets its
// cookie, generated, on the response (rec) of a request without it.
func (eps *endpoints) pick(rec *recorder, r *http.Request, src netip.Addr) (*upstream, int) {
	var hash uint64
	if eps.lb.Policy == config.LBConsistentHash {
		switch lb := &eps.lb; {
		case lb.HashHeader != "":
			hash = balance.HashString(r.Header.Get(lb.HashHeader))
		case lb.HashCookie != "":
			switch c, err := r.Cookie(lb.HashCookie); {
			case err == nil:
				hash = balance.HashString(c.Value)
			case lb.HashCookieSet:
				// As Envoy: the value is a hash of the client's address,
				// and the request is placed by the cookie it is given.
				v := strconv.FormatUint(balance.HashAddr(src), 16)
				hash = balance.HashString(v)
				rec.setCookie = hashCookie(lb, v)
			default:
				hash = balance.HashAddr(src) // no cookie yet: keep the client on one endpoint meanwhile
			}
		case lb.HashSourceIP:
			hash = balance.HashAddr(src)
		case lb.HashQueryParam != "":
			hash = balance.HashString(r.URL.Query().Get(lb.HashQueryParam))
		}
	}
	i := eps.set.Pick(hash)
	eps.set.Begin(i)
	return eps.eps[i], i
}

// hashCookie is the Set-Cookie value giving a client the hash cookie v:
// the policy's name and path, Max-Age its ttl (at least a second; none for
// a ttl of 0, a session cookie), HttpOnly.
func hashCookie(lb *config.LBSettings, v string) string {
	c := http.Cookie{Name: lb.HashCookie, Value: v, Path: lb.HashCookiePath, HttpOnly: true}
	if lb.HashCookieTTL > 0 {
		c.MaxAge = max(int((lb.HashCookieTTL+time.Second-1)/time.Second), 1)
	}
	return c.String()
}

// done ends endpoint i's request with the status the client got (0: none);
// the gateway's own answers for a failed exchange are 502, 503 and 504.
func (eps *endpoints) done(i int, status int) {
	eps.set.End(i, balance.Outcome{Status: status})
}

// dumpEjected lists the ejected endpoints ("address:port"), for /config_dump.
func (eps *endpoints) dumpEjected() []string {
	var out []string
	for _, i := range eps.set.Ejected() {
		out = append(out, eps.keys[i])
	}
	return out
}
