package policy

// A filter holds necessary conditions for a rule's To to match, so that
// most rules are rejected by three bit tests in the rule itself, without
// loading its operations and patterns: bit n%64 of last, size and port is
// set if some operation may match a host whose last byte is n, a host of n
// bytes, and port n. (Rules mostly list exact hosts, which it tells apart
// by length and last byte, and ports.)
type filter struct{ last, size, port uint64 }

// anything is the filter of a rule that has no To.
var anything = filter{^uint64(0), ^uint64(0), ^uint64(0)}

func newFilter(ops []operation) filter {
	if len(ops) == 0 {
		return anything
	}
	var f filter
	for _, o := range ops {
		of := anything
		if len(o.hosts) > 0 {
			of.last, of.size = 0, 0
			for _, h := range o.hosts {
				n := len(h.s)
				if h.kind == matchPrefix || n == 0 {
					of.last = ^uint64(0) // the host's last byte is not in s
				} else {
					of.last |= bit(uint(h.s[n-1]))
				}
				if h.kind == matchExact {
					of.size |= bit(uint(n))
				} else {
					of.size = ^uint64(0)
				}
			}
		}
		if len(o.ports) > 0 {
			of.port = 0
			for _, p := range o.ports {
				of.port |= bit(uint(p))
			}
		}
		f.last, f.size, f.port = f.last|of.last, f.size|of.size, f.port|of.port
	}
	return f
}

// bit returns the bit of n in a filter's sets.
func bit(n uint) uint64 { return 1 << (n % 64) }

// requestFilter returns the filter of a request for host (lowercase last
// byte last) on port: one bit in each set.
func requestFilter(host string, last byte, port uint32) filter {
	return filter{bit(uint(last)), bit(uint(len(host))), bit(uint(port))}
}

// may reports whether a rule with filter f may match a request with
// filter r.
func (f *filter) may(r *filter) bool {
	return f.last&r.last != 0 && f.size&r.size != 0 && f.port&r.port != 0
}
