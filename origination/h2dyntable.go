package origination

import (
	"net/http"
	"strconv"
)

// h2DefaultTableSize is HPACK's initial dynamic table size (RFC 9113
// §6.5.2), which an upstream may use until it has acknowledged our
// SETTINGS_HEADER_TABLE_SIZE of 0 (§6.5.3).
const h2DefaultTableSize = 4096

// dynTable is the upstream's HPACK dynamic table as the decoder keeps it
// (RFC 7541 §2.3.2, §4). The zero value is a table of size 0, allowed no
// more: what an upstream that has acknowledged our SETTINGS may use.
type dynTable struct {
	ents    []staticEntry // newest last
	size    uint32        // sum of the entries' sizes
	max     uint32        // the current maximum, set by the upstream's size updates
	allowed uint32        // the most a size update may set: what our SETTINGS allow
}

// newConnTable is the table of a new connection: the upstream may use
// the default size until it acknowledges our SETTINGS.
func newConnTable() dynTable {
	return dynTable{max: h2DefaultTableSize, allowed: h2DefaultTableSize}
}

// settingsAcked records that the upstream acknowledged our SETTINGS,
// which allow no table: its next size update must be 0. Entries stay
// until that update, as RFC 7541 §4.2 has it.
func (t *dynTable) settingsAcked() { t.allowed = 0 }

// setMax applies a dynamic table size update.
func (t *dynTable) setMax(n uint64) error {
	if n > uint64(t.allowed) {
		return &errCompression{"dynamic table size update to " + strconv.FormatUint(n, 10) +
			" above the " + strconv.FormatUint(uint64(t.allowed), 10) + " allowed"}
	}
	t.max = uint32(n)
	t.evict(0)
	return nil
}

// evict drops the oldest entries until room more bytes fit.
func (t *dynTable) evict(room uint32) {
	k := 0
	for k < len(t.ents) && t.size+room > t.max {
		t.size -= t.ents[k].size
		k++
	}
	if k > 0 {
		n := copy(t.ents, t.ents[k:])
		clear(t.ents[n:])
		t.ents = t.ents[:n]
	}
}

// add inserts a field (literal with incremental indexing). One larger
// than the table empties it (RFC 7541 §4.4).
func (t *dynTable) add(name, value string) {
	if uint64(len(name))+uint64(len(value))+32 > uint64(t.max) {
		clear(t.ents)
		t.size, t.ents = 0, t.ents[:0]
		return
	}
	size := uint32(len(name) + len(value) + 32) // at most max
	t.evict(size)
	e := staticEntry{name: name, value: value, size: size}
	if len(name) > 0 && name[0] == ':' {
		e.pseudo = true
	} else {
		e.canonical = commonCanonical[name]
		if e.canonical == "" {
			e.canonical = http.CanonicalHeaderKey(name)
		}
		e.badName = !validWireName([]byte(name))
	}
	e.badValue = !validValue([]byte(value))
	t.ents = append(t.ents, e)
	t.size += size
}

// entry returns entry idx (from 1) of the static table, or of the
// dynamic table after it.
func (t *dynTable) entry(idx uint64) (*staticEntry, error) {
	if idx > 0 && idx <= uint64(len(staticTable)) {
		return &staticTable[idx-1], nil
	}
	if d := idx - uint64(len(staticTable)) - 1; idx > uint64(len(staticTable)) && d < uint64(len(t.ents)) {
		return &t.ents[len(t.ents)-1-int(d)], nil
	}
	return nil, &errCompression{"index " + strconv.FormatUint(idx, 10) + " is not in the static table nor in the " +
		strconv.Itoa(len(t.ents)) + " entries of the dynamic table"}
}
