package route

// hostIndex finds the entry of a request host among patterns that are
// exact hosts, wildcard suffixes "*.suffix" and "*": exact first, then the
// longest wildcard suffix, then "*". Patterns are lowercase; the first
// pattern added for a key wins. A lookup is map probes on substrings of the
// host: no allocation.
type hostIndex struct {
	exact map[string]int32
	wild  map[string]int32 // key: the suffix with its leading dot, ".example.com"
	any   int32            // index of "*"; -1 when none
	n     int              // patterns added
}

func newHostIndex() hostIndex { return hostIndex{any: -1} }

// add indexes pattern as entry i unless the pattern is already there.
func (x *hostIndex) add(pattern string, i int) {
	x.n++
	switch {
	case pattern == "*":
		if x.any < 0 {
			x.any = int32(i)
		}
	case len(pattern) > 2 && pattern[0] == '*' && pattern[1] == '.':
		if x.wild == nil {
			x.wild = map[string]int32{}
		}
		if _, ok := x.wild[pattern[1:]]; !ok {
			x.wild[pattern[1:]] = int32(i)
		}
	default:
		if x.exact == nil {
			x.exact = map[string]int32{}
		}
		if _, ok := x.exact[pattern]; !ok {
			x.exact[pattern] = int32(i)
		}
	}
}

// empty reports whether nothing was added.
func (x *hostIndex) empty() bool { return x.n == 0 }

// find returns the entry for host, or -1. A wildcard "*.example.com"
// covers "a.example.com" and "a.b.example.com" (a non-empty prefix), as
// Envoy's virtual host domains and Istio's Gateway hosts do.
func (x *hostIndex) find(host string) int {
	if i, ok := x.exact[host]; ok {
		return int(i)
	}
	if len(x.wild) > 0 {
		// The first dot leaves the longest suffix.
		for i := 1; i < len(host); i++ {
			if host[i] != '.' {
				continue
			}
			if j, ok := x.wild[host[i:]]; ok {
				return int(j)
			}
		}
	}
	return int(x.any)
}

// next returns the entry for host less specific than the one at rank
// after (the rank find's entry has is 0: exact, then each wildcard suffix
// from the longest, then "*"), and its rank; -1 when there is none.
func (x *hostIndex) next(host string, after int) (entry, rank int) {
	rank = 0
	if i, ok := x.exact[host]; ok {
		if rank > after {
			return int(i), rank
		}
		rank++
	}
	if len(x.wild) > 0 {
		for i := 1; i < len(host); i++ {
			if host[i] != '.' {
				continue
			}
			if j, ok := x.wild[host[i:]]; ok {
				if rank > after {
					return int(j), rank
				}
				rank++
			}
		}
	}
	if x.any >= 0 && rank > after {
		return int(x.any), rank
	}
	return -1, -1
}

// hostMatches reports whether pattern (exact, "*.suffix" or "*") covers host.
func hostMatches(pattern, host string) bool {
	switch {
	case pattern == "*":
		return true
	case len(pattern) > 2 && pattern[0] == '*' && pattern[1] == '.':
		return len(host) > len(pattern)-1 && host[len(host)-len(pattern)+1:] == pattern[1:]
	default:
		return pattern == host
	}
}
