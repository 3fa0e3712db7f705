package route

// Export is a mesh VirtualService's exportTo, compiled: the namespaces
// whose pods its routes apply to. A nil *Export (the default, "*") exports
// to every namespace; an Export without namespaces ("~") to none.
type Export struct {
	Namespaces []string // "." resolved to the VirtualService's namespace
}

// Includes reports whether x exports to namespace ns (a nil x: every one).
func (x *Export) Includes(ns string) bool {
	return x == nil || ns != "" && containsString(x.Namespaces, ns)
}

// Source is who sends a request, for exportTo: the namespace of the source
// pod, and whether exportTo applies at all. The zero Source (no pod table:
// files only) sees every route.
type Source struct {
	Namespace string // "" for an unknown source (no pod holds its address)
	Scoped    bool   // a pod table was consulted: exportTo is enforced
}

// routeClasses is how many classes Source.class sorts routes into.
const routeClasses = 3

// class is the rank of rt's VirtualService among those a scoped source s
// sees (see lookupFrom): 0 its own namespace's, 1 another's exported to it
// by name, 2 one exported everywhere; -1 when s does not see it.
func (s *Source) class(rt *HTTPRoute) int {
	switch {
	case rt.Export == nil:
		return 2
	case !s.sees(rt.Export):
		return -1
	case len(rt.VirtualService) > len(s.Namespace) && rt.VirtualService[len(s.Namespace)] == '/' && rt.VirtualService[:len(s.Namespace)] == s.Namespace:
		return 0
	default:
		return 1
	}
}

// sees reports whether s sees routes exported by x.
func (s *Source) sees(x *Export) bool {
	return !s.Scoped || x.Includes(s.Namespace)
}
