package policy

import (
	"maps"
	"slices"
)

// selector is a workload selector's labels as a slice, sorted by key:
// ranging over a slice costs nothing, over a map a random start and an
// iterator per request.
type selector []label

type label struct{ key, value string }

func newSelector(m map[string]string) selector {
	var s selector
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s = append(s, label{k, m[k]})
	}
	return s
}

// matches reports whether labels include every label of s (an empty s
// matches every pod).
func (s selector) matches(labels map[string]string) bool {
	for i := range s {
		if v, ok := labels[s[i].key]; !ok || v != s[i].value {
			return false
		}
	}
	return true
}
