package origination

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2/hpack"
)

// FuzzDecodeHead holds the response head reader to x/net's HPACK
// decoder, block after block of one connection (so that the dynamic
// tables must stay in step): the same fields, or both refuse. The input
// is a series of blocks, each after a byte whose low 7 bits give its
// length (127: the rest of the input) and whose top bit says the upstream
// acknowledged our SETTINGS before it. Where both decode, the fields x/net
// found are checked as a response head by a plain reference
// (referenceHead), which our reader must agree with.
func FuzzDecodeHead(f *testing.F) {
	enc := func(limit bool, fields ...string) []byte {
		var b strings.Builder
		e := hpack.NewEncoder(&b)
		if limit {
			e.SetMaxDynamicTableSizeLimit(0)
		}
		for i := 0; i < len(fields); i += 2 {
			_ = e.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return []byte(b.String())
	}
	frame := func(ack bool, b []byte) []byte {
		n := byte(len(b))
		if len(b) >= 127 {
			n = 127
		}
		if ack {
			n |= 0x80
		}
		return append([]byte{n}, b...)
	}
	head := []string{":status", "200", "server", "nginx", "x-dyn", "indexed", "content-length", "2"}
	f.Add(frame(false, enc(false, head...)))
	f.Add(append(frame(false, enc(false, head...)), frame(true, enc(true, head...))...))
	twice := func() []byte { // one encoder, two blocks: the second refers to the first's entries
		var b strings.Builder
		e := hpack.NewEncoder(&b)
		for i := 0; i < len(head); i += 2 {
			_ = e.WriteField(hpack.HeaderField{Name: head[i], Value: head[i+1]})
		}
		first := b.String()
		b.Reset()
		for i := 0; i < len(head); i += 2 {
			_ = e.WriteField(hpack.HeaderField{Name: head[i], Value: head[i+1]})
		}
		return append(frame(false, []byte(first)), frame(false, []byte(b.String()))...)
	}
	f.Add(twice())
	f.Add([]byte{0x03, 0x88, 0x40 | 54, 0x00})
	f.Add([]byte{0x84, 0x20, 0x88, 0xbe, 0x80})
	f.Fuzz(func(t *testing.T, data []byte) {
		var d headDecoder
		d.tab = newConnTable()
		ref := hpack.NewDecoder(h2DefaultTableSize, nil)
		for i := 0; len(data) > 0; i++ {
			n := int(data[0] & 0x7f)
			ack := data[0]&0x80 != 0
			data = data[1:]
			if n == 127 || n > len(data) {
				n = len(data)
			}
			block := data[:n]
			data = data[n:]
			if ack {
				d.tab.settingsAcked()
				ref.SetAllowedMaxDynamicTableSize(0)
			}
			fields, rerr := ref.DecodeFull(block)
			h, err := d.decode(block, MaxResponseHeaderBytes)
			var ce *errCompression
			compression := errors.As(err, &ce)
			switch {
			case rerr != nil && compression:
				return // both refuse the block: the connection ends
			case compression && strings.Contains(err.Error(), "size update after a header field"):
				return // x/net allows one after fields while its table is empty; RFC 7541 §4.2 does not
			case rerr != nil && strings.Contains(rerr.Error(), "MUST occur at the beginning"):
				return // a second size update at the start, which RFC 7541 §4.2 allows
			case rerr != nil:
				t.Fatalf("block %d (% x): x/net refuses it (%v), we decoded %v, %v", i, block, rerr, h.header, err)
			case compression:
				t.Fatalf("block %d (% x): we refuse it (%v), x/net decoded %v", i, block, err, fields)
			}
			status, hdr, ok := referenceHead(fields, MaxResponseHeaderBytes)
			switch {
			case ok != (err == nil):
				t.Fatalf("block %d (% x): fields %v: reference says valid %v, we said %v", i, block, fields, ok, err)
			case ok && (h.status != status || !reflect.DeepEqual(h.header, hdr)):
				t.Fatalf("block %d (% x): we decoded %d %v, x/net's fields make %d %v", i, block, h.status, h.header, status, hdr)
			}
		}
	})
}

// referenceHead checks fields as a response head (or trailers) the plain
// way: only :status, once, first, of three digits from 100; names lower
// case tokens; values without control characters; the size as HTTP/2
// counts it within limit.
func referenceHead(fields []hpack.HeaderField, limit uint32) (int, http.Header, bool) {
	status, size := 0, uint32(0)
	regular := false
	hdr := http.Header{}
	for _, f := range fields {
		size += f.Size()
		if strings.HasPrefix(f.Name, ":") {
			if regular || f.Name != ":status" || status != 0 || len(f.Value) != 3 {
				return 0, nil, false
			}
			for _, c := range []byte(f.Value) {
				if c < '0' || c > '9' {
					return 0, nil, false
				}
				status = status*10 + int(c-'0')
			}
			if status < 100 {
				return 0, nil, false
			}
			continue
		}
		regular = true
		if f.Name == "" || strings.ToLower(f.Name) != f.Name || !httpguts.ValidHeaderFieldName(f.Name) ||
			!httpguts.ValidHeaderFieldValue(f.Value) {
			return 0, nil, false
		}
		hdr.Add(f.Name, f.Value)
	}
	if size > limit {
		return 0, nil, false
	}
	return status, hdr, true
}
