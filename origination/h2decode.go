package origination

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2/hpack"
)

// The response header blocks of an upstream are decoded here rather than
// by x/net's hpack.Decoder behind Framer.ReadMetaHeaders. That path makes
// a string of every name and value, a field slice and a frame per
// response before the http.Header is made: about sixteen allocations per
// response, a tenth of origination's CPU when profiled.
// This client asks for no dynamic table (SETTINGS_HEADER_TABLE_SIZE 0),
// but an upstream may use the default 4096 bytes until it acknowledges
// that (RFC 9113 §6.5.3), and some go on after. So the decoder keeps the
// upstream's table (h2dyntable.go); once the upstream has set it to 0, as
// it should right after its ACK, every field is indexed from the static
// table or literal, which costs nothing more, and the values of a block
// end up in one string.

// errCompression is an HPACK decoding failure: a connection error
// (COMPRESSION_ERROR, RFC 9113 §4.3).
type errCompression struct{ msg string }

func (e *errCompression) Error() string { return "HPACK: " + e.msg }

// respHead is a decoded response head or trailer block.
type respHead struct {
	status    int // :status, 0 if absent
	hasPseudo bool
	header    http.Header
	endStream bool
}

// headDecoder decodes blocks; one per connection, used by its reader.
type headDecoder struct {
	buf    []byte      // names and values of the block being decoded
	fields []wireField // its regular fields
	huff   appendWriter
	tab    dynTable // the upstream's dynamic table; size 0 once it has acknowledged our SETTINGS
	// Huffman-coded values decoded before, by their code. With no
	// dynamic table the upstream codes the same server, content-type,
	// etag and the like in every response; decoding them again was most
	// of the time decode took.
	cache map[string]string
}

const (
	maxCached      = 128 // entries; the cache starts over when full
	maxCachedValue = 256 // bytes of code
)

type wireField struct {
	name           string // canonical, when known without allocating
	nameAt, nameTo int    // else the literal name in buf
	valAt, valTo   int    // the value in buf, unless cached
	val            string // the value decoded before, if cached
	cached         bool
}

type appendWriter struct{ b *[]byte }

func (w appendWriter) Write(p []byte) (int, error) {
	*w.b = append(*w.b, p...)
	return len(p), nil
}

// decode decodes block. A *errCompression is a connection error; any
// other error makes the response malformed (a stream error). A malformed
// block is still decoded to its end, so that the dynamic table stays as
// the upstream's encoder has it.
func (d *headDecoder) decode(block []byte, limit uint32) (respHead, error) {
	var h respHead
	var serr error // the first stream error
	d.buf, d.fields = d.buf[:0], d.fields[:0]
	d.huff.b = &d.buf
	size := uint32(0)
	regular := false // a regular field was seen: no pseudo-header may follow
	for start := true; len(block) > 0; {
		b := block[0]
		var idx uint64
		var err error
		switch {
		case b&0x80 != 0: // indexed field
			start = false
			if idx, block, err = readInt(7, block); err != nil {
				return h, err
			}
			e, err := d.tab.entry(idx)
			if err != nil {
				return h, err
			}
			size += e.size
			switch {
			case e.badName || e.badValue:
				serr = cmp.Or(serr, errors.New("the upstream sent an invalid header field "+strconv.Quote(e.name)))
			case e.pseudo:
				serr = cmp.Or(serr, h.pseudo(e.name, e.value, regular))
			default:
				regular = true
				if idx > uint64(len(staticTable)) { // a dynamic entry: its strings are its own
					d.fields = append(d.fields, wireField{name: e.canonical, val: e.value, cached: true})
					continue
				}
				at := len(d.buf)
				d.buf = append(d.buf, e.value...)
				d.fields = append(d.fields, wireField{name: e.canonical, valAt: at, valTo: len(d.buf)})
			}
			continue
		case b&0xe0 == 0x20: // dynamic table size update
			if idx, block, err = readInt(5, block); err != nil {
				return h, err
			}
			if !start {
				return h, &errCompression{"dynamic table size update after a header field"}
			}
			if err := d.tab.setMax(idx); err != nil {
				return h, err
			}
			continue
		case b&0xc0 == 0x40: // literal with incremental indexing
			idx, block, err = readInt(6, block)
		default: // literal without indexing, or never indexed
			idx, block, err = readInt(4, block)
		}
		start = false
		if err != nil {
			return h, err
		}
		index := b&0xc0 == 0x40
		f := wireField{nameAt: len(d.buf)}
		var e *staticEntry
		if idx > 0 {
			if e, err = d.tab.entry(idx); err != nil {
				return h, err
			}
			if idx > uint64(len(staticTable)) {
				ent := *e // adding to the table below may move its entries
				e = &ent
			}
		} else if block, err = d.readString(block); err != nil {
			return h, err
		}
		f.nameTo, f.valAt = len(d.buf), len(d.buf)
		var valLen int
		if f.val, f.cached, block, err = d.readValue(block); err != nil {
			return h, err
		}
		f.valTo = len(d.buf)
		name := d.buf[f.nameAt:f.nameTo]
		if index && d.tab.max > 0 { // into a table of size 0, it would only empty the table, which is empty
			var n string
			if e != nil {
				n = e.name
			} else {
				n = string(name)
			}
			d.tab.add(n, d.value(&f))
		}
		if f.cached {
			valLen = len(f.val) // checked when cached
		} else if valLen = f.valTo - f.valAt; !validValue(d.buf[f.valAt:f.valTo]) {
			serr = cmp.Or(serr, errors.New("the upstream sent an invalid header field value"))
			continue
		}
		if e != nil {
			size += uint32(len(e.name)+valLen) + 32
			if e.badName {
				serr = cmp.Or(serr, errors.New("the upstream sent an invalid header field name "+strconv.Quote(e.name)))
				continue
			}
			if e.pseudo {
				serr = cmp.Or(serr, h.pseudo(e.name, d.value(&f), regular))
				continue
			}
			f.name = e.canonical
		} else {
			size += uint32(len(name)+valLen) + 32
			if len(name) > 0 && name[0] == ':' {
				serr = cmp.Or(serr, h.pseudo(string(name), d.value(&f), regular))
				continue
			}
			if !validWireName(name) {
				serr = cmp.Or(serr, errors.New("the upstream sent an invalid header field name "+strconv.Quote(string(name))))
				continue
			}
			f.name = commonCanonical[string(name)] // "" if not common: made canonical in header
		}
		regular = true
		d.fields = append(d.fields, f)
	}
	if serr != nil {
		return h, serr
	}
	if size > limit {
		return h, errHeadTooLarge(limit)
	}
	h.header = d.header()
	return h, nil
}

// errHeadTooLarge says a response head passed limit.
func errHeadTooLarge(limit uint32) error {
	return errors.New("the upstream's response headers exceed " + limitText(limit))
}

// limitText says a size limit: "64 KiB", "10 MiB" or "178 bytes".
func limitText(limit uint32) string {
	switch {
	case limit > 0 && limit%(1<<20) == 0:
		return strconv.FormatUint(uint64(limit>>20), 10) + " MiB"
	case limit > 0 && limit%(1<<10) == 0:
		return strconv.FormatUint(uint64(limit>>10), 10) + " KiB"
	}
	return strconv.FormatUint(uint64(limit), 10) + " bytes"
}

// pseudo takes a pseudo-header field: only :status, once, first.
func (h *respHead) pseudo(name, val string, regular bool) error {
	switch {
	case regular:
		return errors.New("the upstream sent pseudo-header " + name + " after regular header fields")
	case name != ":status":
		return errors.New("the upstream sent pseudo-header " + strconv.Quote(name) + " in a response")
	case h.hasPseudo:
		return errors.New("the upstream sent :status twice")
	}
	h.hasPseudo = true
	code := 0
	for _, c := range []byte(val) {
		if c < '0' || c > '9' {
			code = -1
			break
		}
		code = code*10 + int(c-'0')
	}
	if len(val) != 3 || code < 100 {
		return errors.New("the upstream sent an invalid :status " + strconv.Quote(val))
	}
	h.status = code
	return nil
}

// header makes the http.Header of the decoded fields: their values (and
// names not known in canonical form) are cut from one string.
func (d *headDecoder) header() http.Header {
	h := make(http.Header, len(d.fields))
	if len(d.fields) == 0 {
		return h
	}
	all := string(d.buf)
	vals := make([]string, len(d.fields)) // one backing array for the usual single values
	for i := range d.fields {
		f := &d.fields[i]
		k := f.name
		if k == "" {
			k = http.CanonicalHeaderKey(all[f.nameAt:f.nameTo])
		}
		v := f.val
		if !f.cached {
			v = all[f.valAt:f.valTo]
		}
		if vs := h[k]; vs != nil {
			h[k] = append(vs, v)
			continue
		}
		vals[i] = v
		h[k] = vals[i : i+1 : i+1]
	}
	return h
}

// value returns f's value as a string.
func (d *headDecoder) value(f *wireField) string {
	if f.cached {
		return f.val
	}
	return string(d.buf[f.valAt:f.valTo])
}

// readValue reads the value literal at the start of p: the string decoded
// before from the same Huffman code, else decoded into d.buf.
func (d *headDecoder) readValue(p []byte) (string, bool, []byte, error) {
	if len(p) == 0 || p[0]&0x80 == 0 {
		rest, err := d.readString(p)
		return "", false, rest, err
	}
	n, q, err := readInt(7, p)
	if err != nil || n > maxCachedValue || uint64(len(q)) < n {
		rest, err := d.readString(p)
		return "", false, rest, err
	}
	code := q[:n]
	if v, ok := d.cache[string(code)]; ok {
		return v, true, q[n:], nil
	}
	at := len(d.buf)
	rest, err := d.readString(p)
	if err != nil || !validValue(d.buf[at:]) {
		return "", false, rest, err // an invalid value is refused by the caller
	}
	if d.cache == nil || len(d.cache) == maxCached {
		d.cache = make(map[string]string, maxCached)
	}
	v := string(d.buf[at:])
	d.cache[string(code)] = v
	d.buf = d.buf[:at]
	return v, true, rest, nil
}

// readString appends the string literal at the start of p to d.buf.
func (d *headDecoder) readString(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return p, &errCompression{"truncated string"}
	}
	huffman := p[0]&0x80 != 0
	n, p, err := readInt(7, p)
	if err != nil {
		return p, err
	}
	if uint64(len(p)) < n {
		return p, &errCompression{"truncated string"}
	}
	s := p[:n]
	if huffman {
		if _, err := hpack.HuffmanDecode(d.huff, s); err != nil {
			return p, &errCompression{"invalid Huffman code"}
		}
	} else {
		d.buf = append(d.buf, s...)
	}
	return p[n:], nil
}

// readInt reads an integer with an n-bit prefix (RFC 7541 §5.1).
func readInt(n uint, p []byte) (uint64, []byte, error) {
	if len(p) == 0 {
		return 0, p, &errCompression{"truncated integer"}
	}
	mask := uint64(1)<<n - 1
	v := uint64(p[0]) & mask
	p = p[1:]
	if v < mask {
		return v, p, nil
	}
	for shift := uint(0); ; shift += 7 {
		switch {
		case len(p) == 0:
			return 0, p, &errCompression{"truncated integer"}
		case shift > 56:
			return 0, p, &errCompression{"invalid integer"}
		}
		b := p[0]
		p = p[1:]
		v += uint64(b&0x7f) << shift
		if b&0x80 == 0 {
			return v, p, nil
		}
	}
}

// validWireName reports whether name is a token in lower case, as HTTP/2
// field names must be.
func validWireName(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	for _, c := range name {
		if !httpguts.IsTokenRune(rune(c)) || 'A' <= c && c <= 'Z' {
			return false
		}
	}
	return true
}

// validValue reports whether v holds no control character but tab, as
// httpguts.ValidHeaderFieldValue says.
func validValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
