package policy

// Host names are handled 8 bytes at a time ("SIMD within a register"): the
// helpers below test or change all 8 bytes of a uint64 at once. Within each
// byte, their sums do not carry and their differences do not borrow, so
// bytes do not disturb each other.

const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// load64 returns the first 8 bytes of s as a little-endian number. The
// compiler turns this into a single load.
func load64(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// load returns s[i:e], 1 to 8 bytes, as a little-endian number. When s
// has 8 bytes it makes one load, of 8 bytes covering [i, e), and shifts the
// others out. (The shift counts are below 64; "& 63" tells the compiler so.)
func load(s string, i, e int) uint64 {
	if len(s) < 8 {
		return loadShort(s, i, e)
	}
	p := min(i, len(s)-8)
	return load64(s[p:]) << ((64 - 8*(e-p)) & 63) >> ((64 - 8*(e-i)) & 63)
}

func loadShort(s string, i, e int) uint64 {
	var v uint64
	for k := e - 1; k >= i; k-- {
		v = v<<8 | uint64(s[k])
	}
	return v
}

// upper64 returns 0x80 in each byte of w that is an ASCII upper-case letter
// and 0 in the others.
func upper64(w uint64) uint64 {
	l := w &^ high           // low 7 bits of each byte
	le := ones*(128+'Z') - l // high bit: l <= 'Z'
	ge := l + ones*(128-'A') // high bit: l >= 'A'
	return le & ge &^ w & high
}

// lower64 lowercases the ASCII letters in w: 0x80>>2 is the 0x20 that tells
// an upper-case letter from its lower-case one.
func lower64(w uint64) uint64 { return w | upper64(w)>>2 }

// dots64 returns 0x80 in each byte of w that is '.' and 0 in the others.
func dots64(w uint64) uint64 {
	x := w ^ ones*'.' // 0 where w has a dot
	return ^((x&^high + ones*0x7f) | x) & high
}

// equalLower reports whether s, lowercased, is lower.
func equalLower(s, lower string) bool {
	n := len(s)
	if n != len(lower) {
		return false
	}
	if n < 8 {
		return lower64(loadShort(s, 0, n)) == loadShort(lower, 0, n)
	}
	// The last 8 bytes, which the loop may overlap: they differ more often.
	if lower64(load64(s[n-8:])) != load64(lower[n-8:]) {
		return false
	}
	for i := 0; i < n-8; i += 8 {
		if lower64(load64(s[i:])) != load64(lower[i:]) {
			return false
		}
	}
	return true
}
