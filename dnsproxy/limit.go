package dnsproxy

import (
	"crypto/rand"
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"

	"github.com/miekg/dns"
)

const (
	// DefaultForwardMax bounds the queries being forwarded at once. A
	// healthy upstream answers in about a millisecond, so this many in
	// flight would be a million queries a second; a silent one holds each
	// query for the 2 s timeout, and this many cost the gateway about 20
	// MiB (a goroutine, buffers and a socket each: the bench's flood took
	// it from 24 MiB to 44) instead of growing with the offered rate.
	DefaultForwardMax = 1024
	// DefaultForwardMaxPerSource bounds those from one client address: a
	// quarter of the whole, so that one pod flooding the upstream leaves
	// three quarters to the node's other pods.
	DefaultForwardMaxPerSource = DefaultForwardMax / 4

	// limitSlots is the size of each row of the per-source table.
	limitSlots = 1024
)

// forwardLimit bounds the forwarded queries in flight, in all and per
// source address, as dnsmasq's dns-forward-max does in all. Taking and
// giving back a place are a few atomic additions: no lock, no allocation.
//
// Sources are counted in a fixed table, not a map: each address is hashed
// to one counter in each of two rows, and a query is admitted while the
// smaller of its two counters is within the share. Every counter is at
// least its sources' true count, so no source ever gets more than its
// share; a source is refused below its share only if both its counters
// are shared with busy sources (two given sources collide in both rows
// about once in a million). It is immutable but for its
// counters, and safe for concurrent use.
type forwardLimit struct {
	max, perSource int32
	seed           [2]uint64 // keys the hash, so that collisions cannot be planned
	inflight       atomic.Int32
	rows           [2][limitSlots]atomic.Int32
}

// ticket is a place taken in the limit, to give back.
type ticket struct{ i, j uint16 }

// overLimit is why a query was not admitted.
type overLimit uint8

const (
	withinLimit overLimit = iota
	overGlobal
	overSource
)

func newForwardLimit(max, perSource int) *forwardLimit {
	if max <= 0 {
		max = DefaultForwardMax
	}
	if perSource <= 0 {
		perSource = DefaultForwardMaxPerSource
	}
	l := &forwardLimit{max: int32(min(max, 1<<30)), perSource: int32(min(perSource, max, 1<<30))}
	var b [16]byte
	_, _ = rand.Read(b[:])
	l.seed = [2]uint64{binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:])}
	return l
}

// acquire takes a place for a query from src, or says which bound it is
// over (and then holds nothing); the whole is checked first.
func (l *forwardLimit) acquire(src netip.Addr) (ticket, overLimit) {
	if l.inflight.Add(1) > l.max {
		l.inflight.Add(-1)
		return ticket{}, overGlobal
	}
	t := l.slots(src)
	a, b := &l.rows[0][t.i], &l.rows[1][t.j]
	if min(a.Add(1), b.Add(1)) > l.perSource {
		a.Add(-1)
		b.Add(-1)
		l.inflight.Add(-1)
		return ticket{}, overSource
	}
	return t, withinLimit
}

// release gives back the place t.
func (l *forwardLimit) release(t ticket) {
	l.inflight.Add(-1)
	l.rows[0][t.i].Add(-1)
	l.rows[1][t.j].Add(-1)
}

// slots hashes src to its counter in each row.
func (l *forwardLimit) slots(src netip.Addr) ticket {
	a := src.Unmap().As16()
	h := mix(binary.LittleEndian.Uint64(a[:8])^l.seed[0]) ^ binary.LittleEndian.Uint64(a[8:])
	h = mix(h ^ l.seed[1])
	return ticket{i: uint16(h % limitSlots), j: uint16((h >> 32) % limitSlots)}
}

// mix is SplitMix64's finalizer: every input bit reaches every output bit.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// source is the client address of w's query, without allocating for our
// UDP loop's writer or for net's address types.
func source(w dns.ResponseWriter) netip.Addr {
	if uw, ok := w.(*udpWriter); ok {
		return uw.to.Addr()
	}
	switch a := w.RemoteAddr().(type) {
	case *net.UDPAddr:
		return a.AddrPort().Addr().Unmap()
	case *net.TCPAddr:
		return a.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
