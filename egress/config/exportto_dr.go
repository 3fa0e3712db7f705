package config

import (
	"fmt"
	"slices"
)

// SourceViews are the DestinationRule choices of an entry whose rules
// are exported to some namespaces only: Istio picks, for a client in
// namespace C, the most specific rule visible to C in C, else the one of
// the entry's namespace exported to C, else the one of the root namespace
// exported to C. Each distinct choice is a view: the entry's ports with
// that rule's settings. Entry.Ports stays the choice made ignoring
// exportTo, for a gateway without a pod table (files only).
type SourceViews struct {
	ByNamespace map[string]int // source namespace -> index into Ports; others get Others
	Others      int            // any other namespace, and an unknown source
	Gateway     int            // the gateway's own namespace (Options.Namespace): for the destinations of Gateway-bound routes
	Ports       [][]Port       // per view: the entry's ports (same order) with the view's rule applied
	Rules       []string       // per view: the rule chosen ("DestinationRule ns/name"), "" for none
}

// View returns the index of the view of a source in namespace ns ("" for
// an unknown source). It does not allocate.
func (v *SourceViews) View(ns string) int {
	if i, ok := v.ByNamespace[ns]; ok {
		return i
	}
	return v.Others
}

// isPrivate reports whether a validated exportTo of a resource in ns
// names only that namespace ("." or its name): Istio keeps such a rule to
// its own namespace's clients.
func isPrivate(ns string, list []string) bool {
	return len(list) == 1 && (list[0] == "." || list[0] == ns)
}

// visibleInOwn reports whether clients of the rule's own namespace see it.
func (d *destRule) visibleInOwn() bool {
	return d.export.Includes(d.obj.Namespace)
}

// sourceViews sets entry i's SourceViews when a DestinationRule for it
// is exported to some namespaces only; otherwise it leaves them nil and
// every source gets the entry's ports as compiled without exportTo.
// raw is the entry's ports before any DestinationRule was applied.
func (c *compiler) sourceViews(x drIndex, i int, raw []Port) {
	e := &c.entries[i]
	target := c.emeta[i].authzHost
	var all []*destRule
	for _, h := range []string{e.Host, target} {
		if h == "" {
			continue
		}
		all = append(all, x.exact[h]...)
		for _, d := range x.wild {
			if d.host == h || wildcardCovers(d.host, h) {
				all = append(all, d)
			}
		}
	}
	if !slices.ContainsFunc(all, func(d *destRule) bool { return d.export != nil }) {
		return
	}
	// The namespaces whose clients may choose differently: those of the
	// rules and those the rules name; "" stands for every other one.
	nss := []string{"", c.opts.Namespace}
	for _, d := range all {
		nss = append(nss, d.obj.Namespace)
		if d.export != nil {
			nss = append(nss, d.export.Namespaces...)
		}
	}
	slices.Sort(nss)
	nss = slices.Compact(nss)
	v := &SourceViews{ByNamespace: map[string]int{}}
	var chosen []*destRule
	for _, ns := range nss {
		d := c.drFor(x, e, target, ns)
		vi := slices.Index(chosen, d)
		if vi < 0 {
			vi = len(chosen)
			chosen = append(chosen, d)
			ports := slices.Clone(raw)
			rule := ""
			if d != nil {
				d.matched = true
				rule = d.obj.Resource()
				for j := range ports {
					ports[j] = d.apply(ports[j])
				}
			}
			v.Ports = append(v.Ports, ports)
			v.Rules = append(v.Rules, rule)
			c.emeta[i].viewDRs = append(c.emeta[i].viewDRs, d)
		}
		if ns == "" {
			v.Others = vi
		} else {
			v.ByNamespace[ns] = vi
		}
	}
	v.Gateway = v.View(c.opts.Namespace)
	e.Views = v
}

// drFor is the DestinationRule Istio applies to entry e for a client in
// namespace ns ("" for a client of no known namespace), nil for none.
func (c *compiler) drFor(x drIndex, e *Entry, target, ns string) *destRule {
	root := c.opts.RootNamespace
	first := func(keep func(*destRule) bool) *destRule {
		if ds := x.candidates(e.Host, target, keep); len(ds) > 0 {
			return ds[0]
		}
		return nil
	}
	// 1. The client's own namespace: its rules it sees (in the root
	// namespace, only those kept to it: the others are looked at in 3).
	if ns != "" {
		if d := first(func(d *destRule) bool {
			return d.obj.Namespace == ns && d.visibleInOwn() && (ns != root || d.private)
		}); d != nil {
			return d
		}
	}
	// 2, 3. The entry's namespace, then the root namespace: the most
	// specific rule exported beyond its namespace, if exported to ns.
	for _, owner := range []string{e.Namespace, root} {
		if owner == "" {
			continue
		}
		if d := first(func(d *destRule) bool { return d.obj.Namespace == owner && !d.private }); d != nil && d.export.Includes(ns) {
			return d
		}
	}
	return nil
}

// clusterViews sets cl's Views from entry ei's: the port as each view's
// DestinationRule sets it, with its subset's settings (a view whose rule
// does not define the subset misses the cluster).
func (c *compiler) clusterViews(cl *Cluster, ei int, subsetName string) {
	e := &c.entries[ei]
	for vi, ports := range e.Views.Ports {
		var cv ClusterView
		for _, p := range ports {
			if p.Number == cl.Port {
				cv.Port = p
			}
		}
		if subsetName != "" {
			dr := c.emeta[ei].viewDRs[vi]
			var sub *subset
			if dr != nil {
				for _, s := range dr.subsets {
					if s.name == subsetName {
						sub = s
					}
				}
			}
			switch {
			case dr == nil:
				cv.Missing = fmt.Sprintf("subset %s of %s: no DestinationRule for it is exported to this source's namespace", subsetName, cl.Host)
			case sub == nil:
				cv.Missing = fmt.Sprintf("subset %s of %s is not defined by %s, the DestinationRule this source's namespace sees", subsetName, cl.Host, e.Views.Rules[vi])
			default:
				ps := dr.settings(sub, cl.Port)
				cv.Port.TLS, cv.Port.Pool, cv.Port.LB, cv.Port.Outlier = ps.tls, ps.pool, ps.lb, ps.outlier
			}
		}
		cl.Views = append(cl.Views, cv)
	}
}
