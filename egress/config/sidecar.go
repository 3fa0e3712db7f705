package config

import (
	"fmt"
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/egressgw/egressgw/policy"
)

// sidecarObj is a compiled Sidecar resource and where it came from.
type sidecarObj struct {
	obj *object
	sc  policy.Sidecar
}

// sidecar compiles a Sidecar: the parts a pod's egress through the gateway
// can honour (outboundTrafficPolicy.mode, egress[].hosts, applied to the
// pods it selects); the rest is named as not applied.
func (c *compiler) sidecar(o *object) {
	var sc networking.Sidecar
	f, res := o.File, o.Resource()
	if err := unmarshalSpec(o.Spec, &sc); err != nil {
		c.r.problem(f, res, "spec", "%v", err)
		return
	}
	before := len(c.r.problems)
	out := policy.Sidecar{Name: o.Namespace + "/" + o.Name, Namespace: o.Namespace}
	if ws := sc.GetWorkloadSelector(); ws != nil {
		if len(ws.GetLabels()) == 0 {
			c.r.problem(f, res, "spec.workloadSelector.labels", "must not be empty (leave out workloadSelector to apply to the whole namespace)")
		}
		out.Selector = ws.GetLabels()
	}
	if len(sc.Ingress) > 0 {
		c.r.warn(f, res, "spec.ingress", "not applied: egressgw serves no inbound traffic of workloads")
	}
	if sc.InboundConnectionPool != nil {
		c.r.warn(f, res, "spec.inboundConnectionPool", "not applied: egressgw serves no inbound traffic of workloads")
	}
	if otp := sc.OutboundTrafficPolicy; otp != nil {
		out.HasMode = true
		switch otp.Mode {
		case networking.OutboundTrafficPolicy_ALLOW_ANY:
			out.Mode = policy.AllowAny
		default:
			out.Mode = policy.RegistryOnly
		}
		if otp.EgressProxy != nil {
			c.r.warn(f, res, "spec.outboundTrafficPolicy.egressProxy", "not applied: egressgw is the egress proxy")
		}
	}
	if len(sc.Egress) > 0 {
		out.Hosts = []string{}
	}
	for i, l := range sc.Egress {
		field := fmt.Sprintf("spec.egress[%d]", i)
		if l == nil || len(l.Hosts) == 0 {
			c.r.problem(f, res, field+".hosts", "at least one host is required")
			continue
		}
		if l.Port != nil {
			c.r.warn(f, res, field+".port", "not applied: egressgw applies the hosts to every port")
		}
		if l.Bind != "" {
			c.r.warn(f, res, field+".bind", "not applied: egressgw binds its own listeners")
		}
		if l.CaptureMode != networking.CaptureMode_DEFAULT {
			c.r.warn(f, res, field+".captureMode", "not applied: egressgw captures nothing (DNS interception)")
		}
		for j, h := range l.Hosts {
			hf := fmt.Sprintf("%s.hosts[%d]", field, j)
			ns, host, ok := strings.Cut(h, "/")
			switch {
			case !ok || ns == "" || host == "":
				c.r.problem(f, res, hf, `%q must be "namespace/host" (namespace "*", ".", "~" or a name)`, h)
				continue
			case ns != "*" && ns != "." && ns != "~" && strings.ContainsAny(ns, "*~"):
				c.r.problem(f, res, hf, `%q: the namespace must be "*", ".", "~" or a name`, h)
				continue
			case host != "*":
				if err := checkHost(strings.ToLower(host), true); err != nil {
					c.r.problem(f, res, hf, "%q: %v", h, err)
					continue
				}
			}
			out.Hosts = append(out.Hosts, h)
		}
	}
	if len(c.r.problems) > before {
		return
	}
	c.sidecars = append(c.sidecars, &sidecarObj{obj: o, sc: out})
}

// sidecarList orders the Sidecars as Istio does (oldest first), and warns
// about each one that another leaves out: a second Sidecar without
// workloadSelector in a namespace.
func (c *compiler) sidecarList() []policy.Sidecar {
	istioOrder(c.sidecars, func(s *sidecarObj) *object { return s.obj })
	first := map[string]string{} // namespace -> its Sidecar without selector
	out := make([]policy.Sidecar, 0, len(c.sidecars))
	for _, s := range c.sidecars {
		if s.sc.Selector == nil {
			if name, ok := first[s.sc.Namespace]; ok {
				c.r.warn(s.obj.File, s.obj.Resource(), "", "not applied: Sidecar %s is namespace %s's Sidecar without workloadSelector already (Istio allows one, and takes the oldest)", name, s.sc.Namespace)
				continue
			}
			first[s.sc.Namespace] = s.sc.Name
		}
		out = append(out, s.sc)
	}
	return out
}
