package config

import (
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/egressgw/egressgw/route"
)

// exportTo validates a resource's exportTo (field "spec.exportTo") and
// returns it for policy.Entry.ExportTo: nil for every namespace.
func (c *compiler) exportTo(o *object, list []string) []string {
	if len(list) == 0 || slices.Contains(list, "*") {
		return nil
	}
	var out []string
	for i, v := range list {
		field := fmt.Sprintf("spec.exportTo[%d]", i)
		switch {
		case v == "." || v == "~" && len(list) == 1:
		case v == "~":
			c.r.problem(o.File, o.Resource(), field, `"~" (exported nowhere) must be the only value`)
			continue
		default:
			if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
				c.r.problem(o.File, o.Resource(), field, `%q is not "*", ".", "~" or a namespace name: %s`, v, errs[0])
				continue
			}
		}
		out = append(out, v)
	}
	return out
}

// routeExport is a validated exportTo (exportTo's result) of a resource in
// namespace ns as a route.Export: nil for every namespace, "." resolved to
// ns, "~" as no namespace.
func routeExport(ns string, list []string) *route.Export {
	if list == nil {
		return nil
	}
	x := &route.Export{Namespaces: []string{}}
	for _, v := range list {
		switch v {
		case "~":
		case ".":
			v = ns
			fallthrough
		default:
			if !slices.Contains(x.Namespaces, v) {
				x.Namespaces = append(x.Namespaces, v)
			}
		}
	}
	return x
}
