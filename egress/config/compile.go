package config

import (
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/egressgw/egressgw/policy"
)

// compiler turns decoded objects into a Snapshot. One is used per Load.
type compiler struct {
	opts      Options
	r         *report
	files     []string
	fileSeen  map[string]bool
	secrets   map[string]*corev1.Secret // "namespace/name"
	entries   []Entry
	emeta     []entryMeta // index-aligned with entries
	drs       []*destRule
	authz     []policy.AuthzPolicy
	resources []Resource
}

// entryMeta is what compile needs to know about an Entry beyond the Entry.
type entryMeta struct {
	obj       *object
	authzHost string            // ExternalName target; "" for ServiceEntry hosts
	portField map[uint32]string // port number -> field that declared it
	dr        *destRule         // the DestinationRule applied to the entry, if any
}

func newCompiler(opts Options, r *report, files []string) *compiler {
	c := &compiler{opts: opts, r: r, fileSeen: map[string]bool{}, secrets: map[string]*corev1.Secret{}}
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

const ingressNote = "not applied: egressgw routes egress by DNS interception, no Gateway/VirtualService is needed (ingress is not supported yet)"

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
	c.applyDestinationRules()
	c.followServiceEntries()
	listeners := c.listeners()
	snap := &Snapshot{
		Entries:   c.entries,
		Listeners: listeners,
		Files:     c.files,
		Warnings:  c.r.warnings,
		Resources: c.resources,
	}
	snap.Policy = c.policy()
	snap.Warnings = c.r.warnings
	return snap
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
			c.r.warn(o.File, o.Resource(), "", ingressNote)
		case "Sidecar":
			c.r.warn(o.File, o.Resource(), "", "not applied: egressgw runs without sidecars")
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
	case "gateway.networking.k8s.io":
		c.r.warn(o.File, o.Resource(), "", "not applied: egressgw routes egress by DNS interception, no Gateway/Route is needed (ingress is not supported yet)")
	case "":
		switch {
		case o.Version == "v1" && o.Kind == "Service":
			c.service(o)
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

// policy builds the policy.Policy from the entries and AuthorizationPolicies.
func (c *compiler) policy() *policy.Policy {
	pe := make([]policy.Entry, len(c.entries))
	for i, e := range c.entries {
		ports := make([]uint32, len(e.Ports))
		for j, p := range e.Ports {
			ports[j] = p.Number
		}
		pe[i] = policy.Entry{Host: e.Host, Ports: ports, AuthzHost: c.emeta[i].authzHost, Source: e.Source}
	}
	p := &policy.Policy{Mode: c.opts.Mode}
	var err error
	if p.Registry, err = policy.NewRegistry(pe); err != nil {
		c.r.problem("", "", "", "%v", err)
	}
	if p.Authz, err = policy.NewAuthz(c.authz); err != nil {
		c.r.problem("", "", "", "%v", err)
	}
	return p
}
