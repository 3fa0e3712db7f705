package policy

import (
	"math/bits"
	"math/rand/v2"
	"strings"
)

// hostIndex finds the most specific registered host pattern for a name.
//
// It is an open-addressing hash table of keys "api.example.com" (an exact
// host) and ".example.com" (from "*.example.com"). A name is looked up as
// itself, then as each of its label suffixes, longest first. The hash is
// computed, and keys compared, 8 bytes at a time, lowercasing them on the
// way, so that a name with upper-case letters needs no lowercased copy, as
// it would for a Go map.
type hostIndex struct {
	slots     []uint64    // 0: empty; else tag<<32 | index in keys + 1
	mask      uint64      // len(slots) - 1; len(slots) is a power of two
	keys      []hostKey   // in order of first registration
	ports     []portEntry // the keys' port lists, carved from one array
	seed      uint64      // random, so that no set of hosts collides on purpose
	exactLens lenSet      // lengths of exact keys
	wildLens  lenSet      // lengths of wildcard keys, with their dot
}

// hostKey is one key and the entries that register it, per port.
type hostKey struct {
	name  string
	ports []portEntry
}

// portEntry says that a host is registered on port by entry.
type portEntry struct {
	port  uint32
	entry int32
}

// lenSet is a set of key lengths, to skip the suffixes that cannot be keys
// without hashing them.
type lenSet [(maxNameLen + 64) / 64]uint64

func (s *lenSet) add(n int)      { s[n/64] |= 1 << (n % 64) }
func (s *lenSet) has(n int) bool { return s[n/64]&(1<<(n%64)) != 0 }

// newHostIndex returns an index with room for n hosts on nports ports.
func newHostIndex(n, nports int) hostIndex {
	size := 8
	for size < 2*n { // at most half full, so probe sequences stay short
		size *= 2
	}
	return hostIndex{
		slots: make([]uint64, size),
		mask:  uint64(size - 1),
		keys:  make([]hostKey, 0, n),
		ports: make([]portEntry, 0, nports),
		seed:  rand.Uint64(),
	}
}

// add registers host (valid, lowercase) on ports for entry i. An entry
// added earlier for the same host and port comes first (the oldest wins);
// later ones are kept behind it for the sources that do not see it
// (exportTo, Sidecar).
func (x *hostIndex) add(host string, ports []uint32, i int) {
	key := host
	if s, ok := strings.CutPrefix(host, "*"); ok {
		key = s
		x.wildLens.add(len(key))
	} else {
		x.exactLens.add(len(key))
	}
	h := x.hash(key, 0)
	k := x.lookup(h, key)
	if k == nil {
		// Room for ports, in the shared array; a later entry that adds
		// more ports to the key makes append move them.
		p := len(x.ports)
		x.ports = x.ports[:p+len(ports)]
		x.keys = append(x.keys, hostKey{name: key, ports: x.ports[p : p : p+len(ports)]})
		k = &x.keys[len(x.keys)-1]
		j := h & x.mask
		for x.slots[j] != 0 {
			j = (j + 1) & x.mask
		}
		x.slots[j] = h>>32<<32 | uint64(len(x.keys))
	}
next:
	for _, p := range ports {
		for _, pe := range k.ports {
			if pe.port == p && pe.entry == int32(i) {
				continue next
			}
		}
		k.ports = append(k.ports, portEntry{port: p, entry: int32(i)})
	}
}

// find returns the entry that registers name on port: an exact match, else
// the longest wildcard suffix. Port 0 means any port. name is clean (see
// cleanName), in any case. registered reports whether name is registered on
// any port. A name with an empty label matches nothing: no key has one, and
// the wildcard walk stops at it. With v, only the entries v sees count:
// for the others, name is not registered. find does not allocate.
func (x *hostIndex) find(name string, port uint32, v *viewer) (entry int, ok, registered bool) {
	if len(x.keys) == 0 {
		return -1, false, false
	}
	n := len(name)
	if x.exactLens.has(n) {
		if k := x.lookup(x.hash(name, 0), name); k != nil {
			i, ok := onPort(k.ports, port) // inlined: the path without a viewer
			if v != nil {
				i, ok = onPortSeen(k.ports, port, v)
			}
			if ok {
				return i, true, true
			}
			registered = registered || v == nil || v.seesAny(k.ports)
		}
	}
	// Each dot starts a suffix, longest first; find them 8 bytes at a time.
	for i := 0; i < n; i += 8 {
		var w uint64
		if i+8 <= n {
			w = load64(name[i:])
		} else {
			w = load(name, i, n)
		}
		for d := dots64(w); d != 0; d &= d - 1 {
			j := i + bits.TrailingZeros64(d)/8
			if j == 0 || name[j-1] == '.' {
				return -1, false, false
			}
			if !x.wildLens.has(n - j) {
				continue
			}
			if k := x.lookup(x.hash(name, j), name[j:]); k != nil {
				e, ok := onPort(k.ports, port)
				if v != nil {
					e, ok = onPortSeen(k.ports, port, v)
				}
				if ok {
					return e, true, true
				}
				registered = registered || v == nil || v.seesAny(k.ports)
			}
		}
	}
	return -1, false, registered
}

// lookup returns the key that is s lowercased, given its hash h, or nil.
func (x *hostIndex) lookup(h uint64, s string) *hostKey {
	for j := h & x.mask; ; j = (j + 1) & x.mask {
		v := x.slots[j]
		if v == 0 {
			return nil
		}
		if v>>32 == h>>32 {
			if k := &x.keys[uint32(v)-1]; equalLower(s, k.name) {
				return k
			}
		}
	}
}

// onPortSeen returns the first entry of pes on port (0: any) that v sees.
func onPortSeen(pes []portEntry, port uint32, v *viewer) (int, bool) {
	for _, pe := range pes {
		if (pe.port == port || port == 0) && v.sees(int(pe.entry)) {
			return int(pe.entry), true
		}
	}
	return -1, false
}

// onPort returns the first entry of pes on port (0: any).
func onPort(pes []portEntry, port uint32) (int, bool) {
	for _, pe := range pes {
		if pe.port == port || port == 0 {
			return int(pe.entry), true
		}
	}
	return -1, false
}

// Multipliers from wyhash.
const (
	hashMul1 = 0xa0761d6478bd642f
	hashMul2 = 0xe7037ed1a0b428db
)

// mix is wyhash's mum: the two halves of the 128-bit product, xored.
func mix(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

// hash returns the hash of s[j:], lowercased, computed 8 bytes at a time
// from its end. (It may load bytes of s before j, but they do not count.)
func (x *hostIndex) hash(s string, j int) uint64 {
	h, e := x.seed, len(s)
	for ; e-j >= 8; e -= 8 {
		h = mix(h^lower64(load64(s[e-8:])), hashMul1)
	}
	// The rest, fewer than 8 bytes, leaves the top byte for the length,
	// which is at most maxNameLen.
	h ^= uint64(len(s)-j) << 56
	switch {
	case j == e: // nothing left
	case e >= 8: // the 8 bytes that end at e, shifted down to s[j:e]
		h ^= lower64(load64(s[e-8:]) >> (8 * (8 - (e - j))))
	default:
		h ^= lower64(loadShort(s, j, e))
	}
	return mix(h, hashMul2)
}
