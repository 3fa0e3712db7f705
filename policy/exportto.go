package policy

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// export is a compiled exportTo: every namespace, or those listed.
type export struct {
	all bool
	ns  []string // with "." resolved to the resource's namespace; empty with all false: none ("~")
}

// newExport compiles exportTo of a resource in namespace ns. Empty means
// "*". "~" (exported nowhere) must stand alone, as Istio requires.
func newExport(ns string, exportTo []string) (export, error) {
	if len(exportTo) == 0 {
		return export{all: true}, nil
	}
	var x export
	for i, v := range exportTo {
		switch {
		case v == "*":
			x.all = true
		case v == "~":
			if len(exportTo) > 1 {
				return export{}, fmt.Errorf("[%d]: %q must be the only value", i, v)
			}
		case v == ".":
			if ns == "" {
				return export{}, fmt.Errorf("[%d]: %q needs the resource's namespace", i, v)
			}
			x.ns = append(x.ns, ns)
		case v == "" || strings.ContainsAny(v, "/*~ "):
			return export{}, fmt.Errorf("[%d]: %q: %w", i, v, errors.New(`not "*", ".", "~" or a namespace name`))
		default:
			x.ns = append(x.ns, v)
		}
	}
	if x.all {
		x.ns = nil
	}
	return x, nil
}

// sees reports whether a source in namespace ns ("" for an unknown source)
// sees what x exports.
func (x *export) sees(ns string) bool {
	return x.all || ns != "" && slices.Contains(x.ns, ns)
}

// viewer is what one source sees of the registry: the entries exported to
// its namespace and, under a Sidecar, those its egress hosts select, for
// the name being looked up.
type viewer struct {
	reg  *Registry
	ns   string   // the source pod's namespace; "" for an unknown source
	sc   *sidecar // the Sidecar that applies to the pod; nil: none
	name string   // the name looked up, clean
	on   bool     // the source's view differs from the whole registry
}

// orNil returns v, or nil when v sees every entry (the fast path).
func (v *viewer) orNil() *viewer {
	if !v.on {
		return nil
	}
	return v
}

// sees reports whether v sees entry i. A nil viewer sees every entry.
func (v *viewer) sees(i int) bool {
	if v == nil {
		return true
	}
	if !v.reg.exports[i].sees(v.ns) {
		return false
	}
	return v.sc == nil || v.sc.selects(v.reg.entries[i].Namespace, v.ns, v.name)
}

// seesAny reports whether v sees one of pes's entries.
func (v *viewer) seesAny(pes []portEntry) bool {
	for _, pe := range pes {
		if v.sees(int(pe.entry)) {
			return true
		}
	}
	return false
}
