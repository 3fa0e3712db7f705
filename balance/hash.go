package balance

import "net/netip"

// The hashes are FNV-1a (64 bits) with a finalizer: stable across
// processes and restarts, so every gateway, and the same gateway after a
// restart, sends a key to the same endpoint of the same endpoint list.

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// HashString is the consistent-hash key of s: a header's value, a
// cookie's, a query parameter's.
func HashString(s string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return mix(h)
}

// HashBytes is HashString of b's bytes.
func HashBytes(b []byte) uint64 {
	h := uint64(fnvOffset)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return mix(h)
}

// HashAddr is the consistent-hash key of a source address (useSourceIp):
// an IPv4 address and its IPv4-mapped IPv6 form hash alike; the zone is
// ignored.
func HashAddr(a netip.Addr) uint64 {
	b := a.As16()
	return HashBytes(b[:])
}

// mix is SplitMix64's finalizer: every input bit reaches every output bit,
// which FNV alone does poorly for short keys.
func mix(h uint64) uint64 {
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

// jump maps key to a bucket in [0, n), n >= 1, by Lamping and Veach's jump
// consistent hash: growing n to n+1 moves only the keys that land on the
// new bucket (1/(n+1) of them).
func jump(key uint64, n int) int {
	b, j := int64(-1), int64(0)
	for j < int64(n) {
		b = j
		key = key*2862933555777941757 + 1
		j = int64(float64(b+1) * (float64(int64(1)<<31) / float64((key>>33)+1)))
	}
	return int(b)
}
