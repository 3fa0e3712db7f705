package config

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

// compiler turns decoded objects into a Snapshot. One is used per Load.
type compiler struct {
	opts     Options
	r        *report
	files    []string
	fileSeen map[string]bool
	secrets  map[string]*corev1.Secret // "namespace/name"
	// secretRefs is every Secret a credentialName looked for, found or
	// not: "namespace/name", and "namespace/name-cacert".
	secretRefs map[string]bool
	entries    []Entry
	emeta      []entryMeta // index-aligned with entries
	drs        []*destRule
	authz      []policy.AuthzPolicy // egress: gateway-wide (selector matching Labels, or none) and scoped to workloads
	sidecars   []*sidecarObj
	ingAuthz   []policy.AuthzPolicy // ingress: selector matching IngressLabels, or none
	resources  []Resource

	// Gateways and VirtualServices, and what binding them builds.
	gateways      []*gatewayObj
	gatewayByName map[string]*gatewayObj
	vss           []*vsObj
	routeLs       map[sidePort]*route.Listener
	routeOrder    []*route.Listener
	claims        map[*route.Listener]map[string]*gwServer
	serverOf      map[*route.Server]*gwServer
	vhosts        map[vhKey]*route.VirtualHost
	bound         map[boundKey]*route.HTTPRoute
	l4Added       map[l4Key]bool
	clusters      []Cluster
	clusterIdx    map[clusterKey]int
	entryOf       map[string]int

	// Services other than ExternalName and their endpoints (services.go).
	kubeSvcs []kubeSvc
	svcEPs   map[svcKey]*svcEndpoints
	svcSeen  map[svcKey]bool
}

// entryMeta is what compile needs to know about an Entry beyond the Entry.
type entryMeta struct {
	obj       *object
	authzHost string            // ExternalName target; "" for ServiceEntry hosts
	portField map[uint32]string // port number -> field that declared it
	dr        *destRule         // the DestinationRule applied to the entry, if any
	inCluster bool              // a Service with endpoints in the cluster: a route destination only, not registered
	exportTo  []string          // the ServiceEntry's exportTo; nil: every namespace
	viewDRs   []*destRule       // the DestinationRule of each of the entry's SourceViews (nil: none)
}

func newCompiler(opts Options, r *report, files []string) *compiler {
	c := &compiler{opts: opts, r: r, fileSeen: map[string]bool{}, secrets: map[string]*corev1.Secret{}, secretRefs: map[string]bool{},
		gatewayByName: map[string]*gatewayObj{}, routeLs: map[sidePort]*route.Listener{},
		claims: map[*route.Listener]map[string]*gwServer{}, serverOf: map[*route.Server]*gwServer{},
		vhosts: map[vhKey]*route.VirtualHost{}, bound: map[boundKey]*route.HTTPRoute{}, l4Added: map[l4Key]bool{}}
	for _, f := range files {
		c.addFile(f)
	}
	return c
}

func (c *compiler) addFile(f string) {
	if k := filepath.Clean(f); !c.fileSeen[k] {
		c.fileSeen[k] = true
		c.files = append(c.files, f)
	}
}

func (c *compiler) compile(objs []*object) *Snapshot {
	for _, o := range objs {
		c.resources = append(c.resources, Resource{File: o.File, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name})
		if o.Group == "" && o.Version == "v1" && o.Kind == "Secret" {
			c.secret(o)
		}
	}
	for _, o := range objs {
		c.dispatch(o)
	}
	c.buildServices()
	c.applyDestinationRules()
	c.followServiceEntries()
	istioOrder(c.gateways, func(g *gatewayObj) *object { return g.obj })
	istioOrder(c.vss, func(v *vsObj) *object { return v.obj })
	c.mergeServers()
	c.bindVirtualServices()
	c.dropInCluster()
	snap := &Snapshot{
		Entries:   c.entries,
		Files:     c.files,
		Resources: c.resources,
		Clusters:  c.clusters,

		SecretRefs: slices.Sorted(maps.Keys(c.secretRefs)),
	}
	if len(c.routeOrder) > 0 {
		t, err := route.New(c.routeOrder)
		if err != nil {
			c.r.problem("", "", "", "%v", err)
		}
		snap.Routes = t
	}
	snap.Listeners = c.listeners()
	snap.Policy = c.policy()
	snap.IngressPolicy = c.ingressPolicy()
	snap.Warnings, snap.Unserved = c.r.warnings, c.r.unserved
	return snap
}

// istioOrder sorts Gateways or VirtualServices as Istio does: by creation
// time, then namespace/name. Documents without creationTimestamp (files)
// keep their file and document order.
func istioOrder[T any](xs []T, obj func(T) *object) {
	slices.SortStableFunc(xs, func(a, b T) int {
		oa, ob := obj(a), obj(b)
		ta, tb := oa.Meta.CreationTimestamp, ob.Meta.CreationTimestamp
		if ta.IsZero() || tb.IsZero() {
			return 0
		}
		if c := ta.Time.Compare(tb.Time); c != 0 {
			return c
		}
		return strings.Compare(oa.Namespace+"/"+oa.Name, ob.Namespace+"/"+ob.Name)
	})
}

func (c *compiler) dispatch(o *object) {
	switch o.Group {
	case "networking.istio.io":
		switch o.Kind {
		case "ServiceEntry", "DestinationRule":
			if !c.version(o, "v1", "v1beta1", "v1alpha3") {
				return
			}
			if o.Kind == "ServiceEntry" {
				c.serviceEntry(o)
			} else {
				c.destinationRule(o)
			}
		case "Gateway", "VirtualService":
			if !c.version(o, "v1", "v1beta1", "v1alpha3") {
				return
			}
			if o.Kind == "Gateway" {
				c.gateway(o)
			} else {
				c.virtualService(o)
			}
		case "Sidecar":
			if c.version(o, "v1", "v1beta1", "v1alpha3") {
				c.sidecar(o)
			}
		default:
			c.r.warn(o.File, o.Resource(), "", "not applied: %s is not supported by egressgw", o.Kind)
		}
	case "security.istio.io":
		switch o.Kind {
		case "AuthorizationPolicy":
			if c.version(o, "v1", "v1beta1") {
				c.authorizationPolicy(o)
			}
		case "PeerAuthentication", "RequestAuthentication":
			c.r.warn(o.File, o.Resource(), "", "not applied: egressgw sees no workload or request identity (no mTLS from sidecars, no JWT)")
		default:
			c.r.warn(o.File, o.Resource(), "", "not applied: %s is not supported by egressgw", o.Kind)
		}
	case "discovery.k8s.io":
		if o.Kind != "EndpointSlice" {
			c.r.warn(o.File, o.Resource(), "", "not applied: %s is not used by egressgw", o.Kind)
		} else if c.version(o, "v1") {
			c.endpointSlice(o)
		}
	case "gateway.networking.k8s.io":
		c.r.warn(o.File, o.Resource(), "", "not applied: egressgw routes egress by DNS interception, no Gateway/Route is needed (ingress is not supported yet)")
	case "":
		switch {
		case o.Version == "v1" && o.Kind == "Service":
			c.service(o)
		case o.Version == "v1" && o.Kind == "Endpoints":
			c.endpointsV1(o)
		case o.Version == "v1" && o.Kind == "Secret":
			// read in the first pass; used by DestinationRule credentialName
		default:
			c.r.warn(o.File, o.Resource(), "", "not applied: %s is not used by egressgw", o.Kind)
		}
	default:
		c.r.warn(o.File, o.Resource(), "", "not applied: %s/%s %s is not used by egressgw", o.Group, o.Version, o.Kind)
	}
}

// version reports whether o's API version is one of vs, reporting a problem if not.
func (c *compiler) version(o *object, vs ...string) bool {
	for _, v := range vs {
		if o.Version == v {
			return true
		}
	}
	c.r.problem(o.File, o.Resource(), "apiVersion", "%s/%s is not supported (use %s/%s)", o.Group, o.Version, o.Group, strings.Join(vs, ", "))
	return false
}

// Rule and reason of an ingress request that no AuthorizationPolicy decided.
const (
	ruleIngress   = "Gateway route"
	reasonIngress = "routed by a Gateway and VirtualService; no AuthorizationPolicy denies it"
)

// ingressPolicy builds the policy of ingress requests: no registry (the
// route table decides where they go), AuthorizationPolicies selecting the
// ingress gateway or none.
func (c *compiler) ingressPolicy() *policy.Policy {
	p := &policy.Policy{Mode: policy.AllowAny, DefaultRule: ruleIngress, DefaultReason: reasonIngress}
	var err error
	if p.Authz, err = policy.NewAuthzIn(c.opts.TrustDomain, c.ingAuthz); err != nil {
		c.r.problem("", "", "", "%v", err)
	}
	return p
}

// policy builds the policy.Policy from the entries and AuthorizationPolicies.
func (c *compiler) policy() *policy.Policy {
	pe := make([]policy.Entry, len(c.entries))
	for i, e := range c.entries {
		ports := make([]uint32, len(e.Ports))
		for j, p := range e.Ports {
			ports[j] = p.Number
		}
		pe[i] = policy.Entry{Host: e.Host, Ports: ports, AuthzHost: c.emeta[i].authzHost, Source: e.Source,
			Namespace: e.Namespace, ExportTo: c.emeta[i].exportTo}
	}
	p := &policy.Policy{Mode: c.opts.Mode}
	var err error
	if p.Registry, err = policy.NewRegistry(pe); err != nil {
		c.r.problem("", "", "", "%v", err)
	}
	if p.Authz, err = policy.NewAuthzIn(c.opts.TrustDomain, c.authz); err != nil {
		c.r.problem("", "", "", "%v", err)
	}
	if p.Sidecars, err = policy.NewSidecars(c.sidecarList(), c.opts.RootNamespace); err != nil {
		c.r.problem("", "", "", "%v", err)
	}
	return p
}
