package config

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// apiServerService is the API server's own Service, selectorless with the
// API server's addresses: in the cluster, never egress.
var apiServerService = svcKey{"default", "kubernetes"}

// kubeSvc is a Service other than ExternalName, kept until every
// EndpointSlice and Endpoints object is read.
type kubeSvc struct {
	obj *object
	svc *corev1.Service
}

// serviceHost is the DNS name of a Service: NAME.NS.svc.<cluster domain>.
func (c *compiler) serviceHost(o *object) string {
	return fmt.Sprintf("%s.%s.svc.%s", o.Name, o.Namespace, c.opts.ClusterDomain)
}

// servicePorts validates a Service's TCP ports and returns them sorted by
// number, with the field that declared each. Other than for ExternalName, a
// numeric targetPort is the port dialled where an endpoint does not name
// one; a targetPort by name is resolved by the endpoints, as kube-proxy
// does. A UDP or SCTP port is warned about unless quiet (a Service in the
// cluster, such as kube-dns, whose UDP ports are simply no destination).
func (c *compiler) servicePorts(o *object, svc *corev1.Service, host string, quiet bool) ([]Port, map[uint32]string) {
	targetPorts := svc.Spec.Type != corev1.ServiceTypeExternalName
	f, res := o.File, o.Resource()
	var ports []Port
	fields := map[uint32]string{}
	for i, sp := range svc.Spec.Ports {
		field := fmt.Sprintf("spec.ports[%d]", i)
		if sp.Protocol != "" && sp.Protocol != corev1.ProtocolTCP {
			if !quiet {
				c.r.warn(f, res, field+".protocol", "%s is not supported: port %d not registered", sp.Protocol, sp.Port)
			}
			continue
		}
		if sp.Port < 1 || sp.Port > 65535 {
			c.r.problem(f, res, field+".port", "%d is not a valid port (1-65535)", sp.Port)
			continue
		}
		n := uint32(sp.Port)
		if prev, dup := fields[n]; dup {
			c.r.problem(f, res, field+".port", "port %d is already declared by %s", n, prev)
			continue
		}
		tp := n
		if targetPorts && sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0 {
			if sp.TargetPort.IntVal < 1 || sp.TargetPort.IntVal > 65535 {
				c.r.problem(f, res, field+".targetPort", "%d is not a valid port (1-65535)", sp.TargetPort.IntVal)
				continue
			}
			tp = uint32(sp.TargetPort.IntVal)
		}
		fields[n] = field
		ports = append(ports, Port{
			Number:     n,
			Name:       sp.Name,
			Protocol:   serviceProtocol(sp),
			TargetPort: tp,
			HTTP2:      declaresHTTP2(appProtocol(sp), sp.Name),
			Pool:       defaultPool,
			Cluster:    fmt.Sprintf("outbound|%d||%s", n, host),
		})
	}
	slices.SortFunc(ports, func(a, b Port) int { return int(a.Number) - int(b.Number) })
	return ports, fields
}

// buildServices makes an entry of every Service other than ExternalName,
// with its ready endpoints (EndpointSlices, else Endpoints):
//   - a Service without selector that has ready endpoints, none of them a
//     Pod (targetRef) and not default/kubernetes (the API server's), is
//     egress, as Istio's "Kubernetes Services for Egress Traffic" task
//     treats it (egressgw cannot know the pod CIDR to tell more): its
//     name is registered (DNS answers it, policies apply) with STATIC
//     resolution to those endpoints on the Service's ports;
//   - every other Service (ClusterIP, NodePort, LoadBalancer, headless) is
//     in-cluster: pods reach it through kube-proxy, so it is neither
//     registered nor answered by DNS, and exists only as a destination of
//     VirtualService and Gateway routes (dropInCluster removes it from the
//     snapshot's entries once the routes are bound).
//
// Runs after every object is dispatched, before the DestinationRules are
// applied, which then apply to these entries as to ServiceEntry hosts.
func (c *compiler) buildServices() {
	if len(c.kubeSvcs) == 0 {
		c.unusedEndpoints()
		return
	}
	registered := make(map[string]int, len(c.entries)) // host -> entry: ServiceEntries and ExternalName Services
	for i := len(c.entries) - 1; i >= 0; i-- {
		registered[c.entries[i].Host] = i
	}
	for _, ks := range c.kubeSvcs {
		o, svc := ks.obj, ks.svc
		f, res := o.File, o.Resource()
		k := c.seeService(o)
		if len(svc.Spec.Ports) == 0 {
			if len(svc.Spec.Selector) == 0 { // in the cluster (a headless Service of a StatefulSet) it is common, and no mistake
				c.r.warn(f, res, "spec.ports", "not applied: a Service without ports is no destination egressgw can route to")
			}
			continue
		}
		host := c.serviceHost(o)
		if i, ok := registered[host]; ok {
			c.r.warn(f, res, "", "not applied: %s registers its name %s, and takes precedence", c.entries[i].Source, host)
			continue
		}
		before := len(c.r.problems)
		ports, fields := c.servicePorts(o, svc, host, len(svc.Spec.Selector) > 0)
		if len(c.r.problems) > before || len(ports) == 0 { // no TCP port: nothing to route to
			continue
		}
		se := c.svcEPs[k]
		eps := se.ready()
		e := Entry{
			Source:     "Service " + k.String(),
			Namespace:  o.Namespace,
			Host:       host,
			Resolution: ResolutionStatic,
			Endpoints:  eps,
			Ports:      ports,
		}
		m := entryMeta{obj: o, portField: fields}
		switch {
		case k == apiServerService || se.pods():
			m.inCluster = true // the API server's own Service; endpoints that are pods (a controller's, without selector)
		case len(svc.Spec.Selector) == 0 && len(eps) > 0:
			e.Source += " (selectorless, endpoints)"
		case len(svc.Spec.Selector) == 0 && se != nil:
			c.r.warn(f, res, "", "not registered for egress: none of its endpoints is ready (routes to it get 503 until one is)")
			m.inCluster = true
		default:
			m.inCluster = true
		}
		c.entries = append(c.entries, e)
		c.emeta = append(c.emeta, m)
	}
	c.entryOf = nil
	c.unusedEndpoints()
}

// seeService records that Service o is loaded, and returns its key.
func (c *compiler) seeService(o *object) svcKey {
	if c.svcSeen == nil {
		c.svcSeen = map[svcKey]bool{}
	}
	k := svcKey{o.Namespace, o.Name}
	c.svcSeen[k] = true
	return k
}

// dropInCluster removes the in-cluster Services' entries once the routes
// are bound (their clusters hold copies): they are not registered, so DNS
// does not answer them and the egress policy does not see them.
func (c *compiler) dropInCluster() {
	keep := 0
	for i := range c.entries {
		if c.emeta[i].inCluster {
			continue
		}
		c.entries[keep], c.emeta[keep] = c.entries[i], c.emeta[i]
		keep++
	}
	c.entries, c.emeta = c.entries[:keep], c.emeta[:keep]
	c.entryOf = nil
}

// endpointsOnPort returns the endpoints that serve the Service port named
// name: those whose EndpointSlice (or Endpoints subset) lists a port of
// that name, as kube-proxy matches them.
func endpointsOnPort(eps []Endpoint, name string) []Endpoint {
	var out []Endpoint
	for _, ep := range eps {
		if _, ok := ep.Ports[name]; ok {
			out = append(out, ep)
		}
	}
	return out
}
