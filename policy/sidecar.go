package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/egressgw/egressgw/identity"
)

// Sidecar is one Istio Sidecar resource, as far as egress goes.
type Sidecar struct {
	Name      string            // "namespace/name", for decisions' Rule
	Namespace string            // where it is; the root namespace's without Selector is the mesh default
	Selector  map[string]string // workloadSelector labels; nil: every pod of Namespace
	// Mode is outboundTrafficPolicy.mode when HasMode, overriding the
	// gateway's for the pods the Sidecar applies to.
	HasMode bool
	Mode    Mode
	// Hosts are egress[].hosts of every egress listener, "namespace/host":
	// namespace "*" (any), "." (the pod's own), "~" (none) or a name; host
	// "*", "*.suffix" or exact. A registered host that none selects is
	// unregistered for the pod. Nil: no egress listener, every host.
	Hosts []string
}

// Sidecars are the compiled Sidecar resources, found per pod by Istio's
// rule: a Sidecar of the pod's namespace whose selector matches its
// labels, else its namespace's Sidecar without selector, else the root
// namespace's (the mesh default). Where several fit, the first given wins
// (give them oldest first: Istio leaves it undefined and takes the
// oldest). Immutable; a nil *Sidecars has none.
type Sidecars struct {
	selected map[string][]*sidecar // by namespace, those with a selector
	byNS     map[string]*sidecar   // by namespace, the one without
	root     *sidecar              // the root namespace's without selector
}

type sidecar struct {
	selector         selector
	hasMode          bool
	mode             Mode
	all              bool // no egress hosts given: every host
	hosts            []sidecarHost
	ruleRegistryOnly string // "Sidecar ns/name outboundTrafficPolicy REGISTRY_ONLY"
	ruleAllowAny     string
}

type sidecarHost struct {
	ns   string // "*" any, "." the pod's own, "~" none, else a name
	host string // lowercase; "*" any, "*.x" a subdomain of x, else exact
}

// NewSidecars validates and compiles ss; rootNamespace is where the mesh
// default lives. All problems are reported, one per line, each naming the
// Sidecar and field.
func NewSidecars(ss []Sidecar, rootNamespace string) (*Sidecars, error) {
	if len(ss) == 0 {
		return nil, nil
	}
	out := &Sidecars{selected: map[string][]*sidecar{}, byNS: map[string]*sidecar{}}
	var errs []error
	for _, s := range ss {
		c := &sidecar{selector: newSelector(s.Selector), hasMode: s.HasMode, mode: s.Mode, all: s.Hosts == nil,
			ruleRegistryOnly: "Sidecar " + s.Name + " " + ruleRegistryOnly,
			ruleAllowAny:     "Sidecar " + s.Name + " " + ruleAllowAny}
		bad := false
		for i, h := range s.Hosts {
			sh, err := compileSidecarHost(h)
			if err != nil {
				errs = append(errs, fmt.Errorf("Sidecar %s: egress hosts[%d]: %q: %w", s.Name, i, h, err))
				bad = true
				continue
			}
			c.hosts = append(c.hosts, sh)
		}
		switch {
		case bad:
		case len(s.Selector) > 0:
			out.selected[s.Namespace] = append(out.selected[s.Namespace], c)
		case out.byNS[s.Namespace] != nil: // a second one: the first stays
		case s.Namespace == rootNamespace:
			out.byNS[s.Namespace], out.root = c, c
		default:
			out.byNS[s.Namespace] = c
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func compileSidecarHost(v string) (sidecarHost, error) {
	ns, host, ok := strings.Cut(strings.ToLower(v), "/")
	if !ok || ns == "" || host == "" {
		return sidecarHost{}, errors.New(`must be "namespace/host"`)
	}
	if strings.Contains(ns, "*") && ns != "*" || strings.Contains(ns, "~") && ns != "~" {
		return sidecarHost{}, errors.New(`the namespace must be "*", ".", "~" or a name`)
	}
	if host != "*" {
		if err := ValidateHost(host); err != nil {
			return sidecarHost{}, err
		}
	}
	return sidecarHost{ns: ns, host: host}, nil
}

// forPod returns the Sidecar that applies to pod, nil if none does.
func (s *Sidecars) forPod(pod *identity.Pod) *sidecar {
	if s == nil || pod == nil {
		return nil
	}
	for _, c := range s.selected[pod.Namespace] {
		if c.selector.matches(pod.Labels) {
			return c
		}
	}
	if c := s.byNS[pod.Namespace]; c != nil {
		return c
	}
	return s.root
}

// selects reports whether the Sidecar lets a pod of namespace podNS reach
// name (clean, any case) through a resource of namespace entryNS.
func (c *sidecar) selects(entryNS, podNS, name string) bool {
	if c.all {
		return true
	}
	for i := range c.hosts {
		h := &c.hosts[i]
		switch h.ns {
		case "*":
		case "~":
			continue
		case ".":
			if entryNS != podNS {
				continue
			}
		default:
			if entryNS != h.ns {
				continue
			}
		}
		if matchHostGlob(h.host, name) {
			return true
		}
	}
	return false
}

// matchHostGlob matches name (any case) against a lowercase Sidecar host:
// "*", "*.suffix" (a name below suffix) or an exact name.
func matchHostGlob(glob, name string) bool {
	switch {
	case glob == "*":
		return true
	case strings.HasPrefix(glob, "*."):
		suf := glob[1:]
		return len(name) > len(suf) && strings.EqualFold(name[len(name)-len(suf):], suf)
	default:
		return strings.EqualFold(glob, name)
	}
}
