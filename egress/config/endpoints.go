package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Labels the API server puts on EndpointSlices.
const (
	labelServiceName = discoveryv1.LabelServiceName // "kubernetes.io/service-name": the Service a slice belongs to
)

// svcKey names a Service: "namespace/name".
type svcKey struct{ ns, name string }

func (k svcKey) String() string { return k.ns + "/" + k.name }

// svcEndpoints is what the EndpointSlices (or else the Endpoints) of one
// Service say, collected before the Services are built.
type svcEndpoints struct {
	slices   []*object // EndpointSlices labelled for the Service
	eps      []Endpoint
	fromEPs  []Endpoint // from Endpoints (v1); used only without any EndpointSlice
	endpoint *object    // the Endpoints object, if any
	// An endpoint of the slices, or of the Endpoints, has a targetRef to a
	// Pod: it is in the cluster.
	slicePods, epPods bool
}

// pods reports whether the endpoints ready uses include a Pod's.
func (se *svcEndpoints) pods() bool {
	if se == nil {
		return false
	}
	if len(se.slices) > 0 {
		return se.slicePods
	}
	return se.epPods
}

func isPod(ref *corev1.ObjectReference) bool { return ref != nil && ref.Kind == "Pod" }

// podLabels are the labels of the pod an endpoint's targetRef names (in
// namespace ns unless it says), nil when it names none or the pod is not
// known (Options.PodLabels).
func (c *compiler) podLabels(ns string, ref *corev1.ObjectReference) map[string]string {
	if !isPod(ref) || c.opts.PodLabels == nil {
		return nil
	}
	if ref.Namespace != "" {
		ns = ref.Namespace
	}
	return c.opts.PodLabels(ns, ref.Name)
}

func (c *compiler) endpointsOf(k svcKey) *svcEndpoints {
	if c.svcEPs == nil {
		c.svcEPs = map[svcKey]*svcEndpoints{}
	}
	se := c.svcEPs[k]
	if se == nil {
		se = &svcEndpoints{}
		c.svcEPs[k] = se
	}
	return se
}

// endpointSlice collects the ready endpoints of a discovery.k8s.io/v1
// EndpointSlice for the Service its kubernetes.io/service-name label names.
// An endpoint is ready when conditions.ready is true or unset, as the API
// says; a terminating endpoint that still serves is not used, as Istio sends
// Envoy such endpoints as draining, which get no new traffic.
func (c *compiler) endpointSlice(o *object) {
	f, res := o.File, o.Resource()
	var es discoveryv1.EndpointSlice
	if err := json.Unmarshal(o.JSON, &es); err != nil {
		c.r.problem(f, res, "", "%s", jsonErr(err))
		return
	}
	svc := es.Labels[labelServiceName]
	if svc == "" {
		c.r.warn(f, res, "metadata.labels", "not applied: no %s label names the Service it belongs to", labelServiceName)
		return
	}
	if es.AddressType != discoveryv1.AddressTypeIPv4 && es.AddressType != discoveryv1.AddressTypeIPv6 {
		c.r.warn(f, res, "addressType", "not applied: addressType %q is not supported (IPv4 or IPv6)", es.AddressType)
		return
	}
	ports := map[string]uint32{}
	for i, p := range es.Ports {
		field := fmt.Sprintf("ports[%d]", i)
		if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
			continue // UDP and SCTP are not served
		}
		if p.Port == nil {
			continue // no port: none of the Service's ports is served by this slice
		}
		if *p.Port < 1 || *p.Port > 65535 {
			c.r.problem(f, res, field+".port", "%d is not a valid port (1-65535)", *p.Port)
			continue
		}
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		ports[name] = uint32(*p.Port)
	}
	se := c.endpointsOf(svcKey{o.Namespace, svc})
	se.slices = append(se.slices, o)
	for i, ep := range es.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		if len(ep.Addresses) == 0 {
			c.r.problem(f, res, fmt.Sprintf("endpoints[%d].addresses", i), "at least one address is required")
			continue
		}
		// kube-proxy uses the first address only; so does egressgw.
		a, err := netip.ParseAddr(ep.Addresses[0])
		if err != nil {
			c.r.problem(f, res, fmt.Sprintf("endpoints[%d].addresses[0]", i), "%q is not an IP address", ep.Addresses[0])
			continue
		}
		se.eps = append(se.eps, Endpoint{Address: a.String(), Ports: maps.Clone(ports), Labels: c.podLabels(o.Namespace, ep.TargetRef)})
		se.slicePods = se.slicePods || isPod(ep.TargetRef)
	}
}

// endpointsV1 collects the ready addresses of a v1 Endpoints object for the
// Service of the same name. notReadyAddresses are not used.
func (c *compiler) endpointsV1(o *object) {
	f, res := o.File, o.Resource()
	var ep corev1.Endpoints //nolint:staticcheck // Endpoints (v1) is what Istio's task applies; EndpointSlices are preferred when both exist
	if err := json.Unmarshal(o.JSON, &ep); err != nil {
		c.r.problem(f, res, "", "%s", jsonErr(err))
		return
	}
	se := c.endpointsOf(svcKey{o.Namespace, o.Name})
	se.endpoint = o
	for i, s := range ep.Subsets {
		ports := map[string]uint32{}
		for j, p := range s.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			if p.Port < 1 || p.Port > 65535 {
				c.r.problem(f, res, fmt.Sprintf("subsets[%d].ports[%d].port", i, j), "%d is not a valid port (1-65535)", p.Port)
				continue
			}
			ports[p.Name] = uint32(p.Port)
		}
		for j, a := range s.Addresses {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil {
				c.r.problem(f, res, fmt.Sprintf("subsets[%d].addresses[%d].ip", i, j), "%q is not an IP address", a.IP)
				continue
			}
			se.fromEPs = append(se.fromEPs, Endpoint{Address: ip.String(), Ports: maps.Clone(ports), Labels: c.podLabels(o.Namespace, a.TargetRef)})
			se.epPods = se.epPods || isPod(a.TargetRef)
		}
	}
}

// ready returns the Service's ready endpoints: those of its EndpointSlices
// when it has any (the API server mirrors a selectorless Service's
// Endpoints into EndpointSlices, and the EndpointSlice controller writes
// both kinds for a Service with a selector: one set is used, never both),
// else those of its Endpoints. An endpoint listed twice (the same address
// and ports, in two slices or two subsets) is used once; the same address
// with other ports (host-network pods) is another endpoint.
func (se *svcEndpoints) ready() []Endpoint {
	if se == nil {
		return nil
	}
	src := se.eps
	if len(se.slices) == 0 {
		src = se.fromEPs
	}
	var out []Endpoint
	seen := map[string]bool{}
	var key []byte
	for _, ep := range src {
		key = append(key[:0], ep.Address...)
		for _, n := range slices.Sorted(maps.Keys(ep.Ports)) {
			key = append(key, ' ')
			key = append(key, n...)
			key = append(key, '=')
			key = strconv.AppendUint(key, uint64(ep.Ports[n]), 10)
		}
		if seen[string(key)] {
			continue
		}
		seen[string(key)] = true
		out = append(out, ep)
	}
	slices.SortStableFunc(out, func(a, b Endpoint) int {
		x, _ := netip.ParseAddr(a.Address)
		y, _ := netip.ParseAddr(b.Address)
		return x.Compare(y)
	})
	return out
}

// unusedEndpoints warns about Endpoints and EndpointSlices whose Service
// is not loaded: nothing routes to them.
func (c *compiler) unusedEndpoints() {
	for _, k := range slices.SortedFunc(maps.Keys(c.svcEPs), func(a, b svcKey) int {
		return strings.Compare(a.String(), b.String())
	}) {
		if c.svcSeen[k] {
			continue
		}
		se := c.svcEPs[k]
		objs := slices.Clone(se.slices)
		if se.endpoint != nil {
			objs = append(objs, se.endpoint)
		}
		for _, o := range objs {
			c.r.warn(o.File, o.Resource(), "", "not applied: no Service %s is loaded", k)
		}
	}
}
