package config

import (
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	networking "istio.io/api/networking/v1alpha3"
)

// LBPolicy is a DestinationRule loadBalancer policy.
type LBPolicy uint8

const (
	LBLeastRequest   LBPolicy = iota // Istio's default (LEAST_REQUEST, and LEAST_CONN, its old name)
	LBRoundRobin                     // ROUND_ROBIN
	LBRandom                         // RANDOM
	LBPassthrough                    // PASSTHROUGH: the address the client asked for
	LBConsistentHash                 // consistentHash on HashHeader, HashCookie, HashSourceIP or HashQueryParam
)

// LBSettings is a DestinationRule loadBalancer, carried on a Port for the
// upstream side to apply.
type LBSettings struct {
	Policy         LBPolicy
	HashHeader     string        // consistentHash.httpHeaderName, canonical
	HashCookie     string        // consistentHash.httpCookie.name
	HashCookiePath string        // httpCookie.path
	HashCookieTTL  time.Duration // httpCookie.ttl; 0: a session cookie
	// HashCookieSet: httpCookie.ttl is present, so a request without the
	// cookie gets one generated and set on its response (Envoy's behaviour).
	HashCookieSet  bool
	HashSourceIP   bool   // consistentHash.useSourceIp
	HashQueryParam string // consistentHash.httpQueryParameterName
}

// OutlierSettings is a DestinationRule outlierDetection, with Istio's
// defaults for what it leaves unset. Enabled is false without one.
type OutlierSettings struct {
	Enabled                  bool
	Consecutive5xx           uint32        // default 5; 0 disables
	ConsecutiveGatewayErrors uint32        // 502, 503, 504 and connect failures; default 0 (off)
	Interval                 time.Duration // default 10s
	BaseEjectionTime         time.Duration // default 30s
	MaxEjectionPercent       int           // default 10
	MinHealthPercent         int           // default 0
}

var defaultLB = LBSettings{Policy: LBLeastRequest}

// loadBalancer compiles a loadBalancer block; nil is Istio's default.
func (c *compiler) loadBalancer(o *object, field string, lb *networking.LoadBalancerSettings) LBSettings {
	out := defaultLB
	if lb == nil {
		return out
	}
	f, res := o.File, o.Resource()
	if lb.LocalityLbSetting != nil {
		c.r.warn(f, res, field+".localityLbSetting", "not applied: egressgw has no locality information")
	}
	if lb.WarmupDurationSecs != nil || lb.Warmup != nil {
		c.r.warn(f, res, field+".warmup", "not applied: not supported by egressgw")
	}
	switch p := lb.LbPolicy.(type) {
	case *networking.LoadBalancerSettings_Simple:
		switch p.Simple {
		case networking.LoadBalancerSettings_UNSPECIFIED, networking.LoadBalancerSettings_LEAST_REQUEST, networking.LoadBalancerSettings_LEAST_CONN:
			out.Policy = LBLeastRequest
		case networking.LoadBalancerSettings_ROUND_ROBIN:
			out.Policy = LBRoundRobin
		case networking.LoadBalancerSettings_RANDOM:
			out.Policy = LBRandom
		case networking.LoadBalancerSettings_PASSTHROUGH:
			out.Policy = LBPassthrough
		default:
			c.r.problem(f, res, field+".simple", "%v is not supported (use ROUND_ROBIN, LEAST_REQUEST, RANDOM or PASSTHROUGH)", p.Simple)
		}
	case *networking.LoadBalancerSettings_ConsistentHash:
		out.Policy = LBConsistentHash
		ch := p.ConsistentHash
		switch k := ch.GetHashKey().(type) {
		case *networking.LoadBalancerSettings_ConsistentHashLB_HttpHeaderName:
			out.HashHeader = canonicalHeader(k.HttpHeaderName)
		case *networking.LoadBalancerSettings_ConsistentHashLB_HttpCookie:
			if k.HttpCookie.GetName() == "" {
				c.r.problem(f, res, field+".consistentHash.httpCookie.name", "required")
			}
			out.HashCookie, out.HashCookiePath = k.HttpCookie.GetName(), k.HttpCookie.GetPath()
			if n := out.HashCookie; n != "" && (&http.Cookie{Name: n, Value: "v"}).Valid() != nil {
				c.r.problem(f, res, field+".consistentHash.httpCookie.name", "%q is not a valid cookie name (an HTTP token: letters, digits and !#$%%&'*+-.^_`|~)", n)
			}
			if p := out.HashCookiePath; p != "" && (&http.Cookie{Name: "n", Value: "v", Path: p}).Valid() != nil {
				c.r.problem(f, res, field+".consistentHash.httpCookie.path", "%q is not a valid cookie path", p)
			}
			if t := k.HttpCookie.GetTtl(); t != nil {
				// 0s: a session cookie, as Istio documents
				out.HashCookieTTL = c.duration(o, field+".consistentHash.httpCookie.ttl", t, false)
				out.HashCookieSet = true
			}
		case *networking.LoadBalancerSettings_ConsistentHashLB_UseSourceIp:
			out.HashSourceIP = k.UseSourceIp
		case *networking.LoadBalancerSettings_ConsistentHashLB_HttpQueryParameterName:
			out.HashQueryParam = k.HttpQueryParameterName
		default:
			c.r.problem(f, res, field+".consistentHash", "a hash key is required: httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName")
		}
	}
	return out
}

// outlierDetection compiles an outlierDetection block with Istio's defaults.
func (c *compiler) outlierDetection(o *object, field string, od *networking.OutlierDetection) OutlierSettings {
	if od == nil {
		return OutlierSettings{}
	}
	out := OutlierSettings{Enabled: true, Consecutive5xx: 5, Interval: 10 * time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 10}
	f, res := o.File, o.Resource()
	if od.ConsecutiveErrors > 0 {
		out.Consecutive5xx = uint32(od.ConsecutiveErrors) // deprecated name
	}
	if v := od.Consecutive_5XxErrors; v != nil {
		out.Consecutive5xx = v.GetValue()
	}
	if v := od.ConsecutiveGatewayErrors; v != nil {
		out.ConsecutiveGatewayErrors = v.GetValue()
	}
	if od.Interval != nil {
		out.Interval = c.duration(o, field+".interval", od.Interval, true)
	}
	if od.BaseEjectionTime != nil {
		out.BaseEjectionTime = c.duration(o, field+".baseEjectionTime", od.BaseEjectionTime, true)
	}
	if od.MaxEjectionPercent != 0 {
		out.MaxEjectionPercent = int(od.MaxEjectionPercent)
	}
	out.MinHealthPercent = int(od.MinHealthPercent)
	for _, p := range []struct {
		name string
		v    int
	}{{"maxEjectionPercent", out.MaxEjectionPercent}, {"minHealthPercent", out.MinHealthPercent}} {
		if p.v < 0 || p.v > 100 {
			c.r.problem(f, res, field+"."+p.name, "%d is not a percentage (0-100)", p.v)
		}
	}
	return out
}

// duration converts d, reporting a problem at field if it is invalid or,
// with positive, not above zero.
func (c *compiler) duration(o *object, field string, d *durationpb.Duration, positive bool) time.Duration {
	v := d.AsDuration()
	if err := d.CheckValid(); err != nil || v < 0 || positive && v == 0 {
		what := "a duration of zero or more"
		if positive {
			what = "a positive duration"
		}
		c.r.problem(o.File, o.Resource(), field, "must be %s", what)
		return 0
	}
	return v
}
