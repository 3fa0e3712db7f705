package policy

import (
	"encoding/binary"
	"net/netip"
)

// An addr is a source address as a 128-bit number (IPv4 in its IPv4-mapped
// form), so that matching it against a prefix is two masked compares rather
// than netip.Prefix.Contains's validity, zone and family checks each time.
type addr struct {
	hi, lo uint64
	fam    uint8 // 4 or 6; 0 (invalid, or has a zone) matches no prefix
}

// A prefix is a compiled netip.Prefix: address bits and mask, as in addr.
type prefix struct {
	hi, lo   uint64
	mhi, mlo uint64
	fam      uint8 // 4 or 6
}

// newAddr converts a, which must already be unmapped. Like Prefix.Contains,
// an invalid address or one with a zone matches nothing.
func newAddr(a netip.Addr) addr {
	switch {
	case a.Is4():
		// As4, not As16: As16's array is stored as two halves and read
		// back whole, which the CPU cannot forward from its store buffer.
		b := a.As4()
		return addr{lo: 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:])), fam: 4}
	case a.Is6() && a.Zone() == "":
		b := a.As16()
		return addr{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:]), fam: 6}
	}
	return addr{}
}

// newPrefix compiles a valid prefix.
func newPrefix(p netip.Prefix) prefix {
	a := newAddr(p.Addr())
	bits := p.Bits()
	if a.fam == 4 {
		bits += 96 // the IPv4-mapped form starts with 96 fixed bits
	}
	// Shifts by 64 or more give 0 in Go, which covers bits of 0, 64 and 128.
	mhi := ^uint64(0) << (64 - min(bits, 64))
	mlo := ^uint64(0) << (128 - max(bits, 64))
	return prefix{hi: a.hi & mhi, lo: a.lo & mlo, mhi: mhi, mlo: mlo, fam: a.fam}
}

func (p *prefix) contains(a *addr) bool {
	return p.fam == a.fam && (a.hi^p.hi)&p.mhi == 0 && (a.lo^p.lo)&p.mlo == 0
}
