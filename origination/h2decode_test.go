package origination

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// The static table matches x/net's: each index decodes to the same field.
func TestStaticTableMatchesHPACK(t *testing.T) {
	if len(staticTable) != 61 {
		t.Fatalf("static table has %d entries, want 61", len(staticTable))
	}
	for i := 1; i <= 61; i++ {
		got, err := hpack.NewDecoder(4096, nil).DecodeFull([]byte{0x80 | byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		e := staticTable[i-1]
		if got[0].Name != e.name || got[0].Value != e.value {
			t.Errorf("index %d: have %q: %q, x/net has %q: %q", i, e.name, e.value, got[0].Name, got[0].Value)
		}
	}
}

// encode encodes fields as an upstream told to keep no dynamic table does.
func encode(fields ...hpack.HeaderField) []byte {
	var b bytes.Buffer
	e := hpack.NewEncoder(&b)
	e.SetMaxDynamicTableSizeLimit(0)
	e.SetMaxDynamicTableSize(0)
	for _, f := range fields {
		_ = e.WriteField(f)
	}
	return b.Bytes()
}

// lit is a literal field without indexing, its strings not Huffman-coded;
// nameIdx 0 sends name as a literal.
func lit(nameIdx byte, name, value string) []byte {
	b := []byte{nameIdx} // nameIdx < 15
	if nameIdx == 0 {
		b = append(b, byte(len(name)))
		b = append(b, name...)
	}
	b = append(b, byte(len(value)))
	return append(b, value...)
}

func TestDecodeHead(t *testing.T) {
	f := func(name, value string) hpack.HeaderField { return hpack.HeaderField{Name: name, Value: value} }
	for _, tt := range []struct {
		name   string
		block  []byte
		status int
		header http.Header
	}{
		{"indexed status, literal values, Huffman", encode(f(":status", "200"), f("server", "nginx"), f("date", "Sun, 22 Nov 2026 13:00:00 GMT"), f("content-type", "text/plain"), f("content-length", "2")),
			200, http.Header{"Server": {"nginx"}, "Date": {"Sun, 22 Nov 2026 13:00:00 GMT"}, "Content-Type": {"text/plain"}, "Content-Length": {"2"}}},
		{"status not in the table", encode(f(":status", "201"), f("location", "/x")), 201, http.Header{"Location": {"/x"}}},
		{"repeated field keeps its values in order", encode(f(":status", "200"), f("set-cookie", "a=1"), f("set-cookie", "b=2")),
			200, http.Header{"Set-Cookie": {"a=1", "b=2"}}},
		{"uncommon and common literal names", encode(f(":status", "204"), f("x-envoy-upstream", "1"), f("x-request-id", "abc"), f("x-empty", "")),
			204, http.Header{"X-Envoy-Upstream": {"1"}, "X-Request-Id": {"abc"}, "X-Empty": {""}}},
		{"indexed regular field", encode(f(":status", "200"), f("accept-encoding", "gzip, deflate")), 200, http.Header{"Accept-Encoding": {"gzip, deflate"}}},
		{"incremental indexing into no table", append([]byte{0x88, 0x40 | 54}, lit(1, "", "nginx")[1:]...), 200, http.Header{"Server": {"nginx"}}},
		{"trailers: no status", encode(f("grpc-status", "0")), 0, http.Header{"Grpc-Status": {"0"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var d headDecoder
			h, err := d.decode(tt.block, MaxResponseHeaderBytes)
			if err != nil {
				t.Fatal(err)
			}
			if h.status != tt.status || !reflect.DeepEqual(h.header, tt.header) {
				t.Errorf("got %d %v, want %d %v", h.status, h.header, tt.status, tt.header)
			}
		})
	}
}

func TestDecodeHeadRefuses(t *testing.T) {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	for _, tt := range []struct {
		name        string
		block       []byte
		compression bool // a connection error, else the response is malformed
		want        string
	}{
		{"upper-case name", cat([]byte{0x88}, lit(0, "X-Foo", "1")), false, "invalid header field name"},
		{"name not a token", cat([]byte{0x88}, lit(0, "x foo", "1")), false, "invalid header field name"},
		{"value with CRLF", cat([]byte{0x88}, lit(0, "x-foo", "a\r\nb: c")), false, "invalid header field value"},
		{"pseudo-header after a regular field", cat(lit(0, "x-foo", "1"), []byte{0x88}), false, "after regular"},
		{"request pseudo-header", cat([]byte{0x88}, lit(4, "", "/")), false, `":path" in a response`},
		{"two statuses", []byte{0x88, 0x89}, false, ":status twice"},
		{"status not three digits", lit(8, "", "20x"), false, "invalid :status"},
		{"status under 100", lit(8, "", "099"), false, "invalid :status"},
		{"dynamic table index", []byte{0x88, 0x80 | 62}, true, "not in the static table"},
		{"index 0", []byte{0x80}, true, "not in the static table"},
		{"table size update above 0", []byte{0x20 | 1, 0x88}, true, "size update"},
		{"table size update after a field", []byte{0x88, 0x20}, true, "size update"},
		{"truncated string", []byte{0x88, 0x00, 0x05, 'a'}, true, "truncated"},
		{"truncated integer", []byte{0x88, 0x0f}, true, "truncated integer"},
		{"endless integer", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, true, "invalid integer"},
		{"bad Huffman", []byte{0x88, 0x00, 0x81, 0xff}, true, "Huffman"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var d headDecoder
			_, err := d.decode(tt.block, MaxResponseHeaderBytes)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
			var ce *errCompression
			if errors.As(err, &ce) != tt.compression {
				t.Errorf("%v: connection error %v, want %v", err, !tt.compression, tt.compression)
			}
		})
	}
}

// The header list size counts each field's name, value and 32 (RFC 9113 §6.5.2).
func TestDecodeHeadLimit(t *testing.T) {
	block := encode(hpack.HeaderField{Name: ":status", Value: "200"}, hpack.HeaderField{Name: "x-big", Value: strings.Repeat("a", 100)})
	var d headDecoder
	if _, err := d.decode(block, 42+105+32); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	if _, err := d.decode(block, 42+105+31); err == nil || !strings.Contains(err.Error(), "exceed 178 bytes") {
		t.Fatalf("over the limit: %v", err)
	}
}

// Decoding a typical response head allocates the header, its values'
// backing array and one string of the values (and the map's buckets).
func TestDecodeHeadAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	block := encode(hpack.HeaderField{Name: ":status", Value: "200"}, hpack.HeaderField{Name: "server", Value: "nginx/1.22.1"},
		hpack.HeaderField{Name: "date", Value: "Sun, 22 Nov 2026 13:00:00 GMT"}, hpack.HeaderField{Name: "content-type", Value: "text/plain"},
		hpack.HeaderField{Name: "content-length", Value: "2"})
	var d headDecoder
	if n := testing.AllocsPerRun(100, func() { _, _ = d.decode(block, MaxResponseHeaderBytes) }); n > 4 {
		t.Errorf("%.0f allocations per head, want at most 4", n)
	}
}

func BenchmarkDecodeHead(b *testing.B) {
	block := encode(hpack.HeaderField{Name: ":status", Value: "200"}, hpack.HeaderField{Name: "server", Value: "nginx/1.22.1"},
		hpack.HeaderField{Name: "date", Value: "Sun, 22 Nov 2026 13:00:00 GMT"}, hpack.HeaderField{Name: "content-type", Value: "text/plain"},
		hpack.HeaderField{Name: "content-length", Value: "2"}, hpack.HeaderField{Name: "last-modified", Value: "Sun, 22 Nov 2026 12:00:00 GMT"},
		hpack.HeaderField{Name: "etag", Value: `"6740a0c0-2"`}, hpack.HeaderField{Name: "accept-ranges", Value: "bytes"})
	var d headDecoder
	b.ReportAllocs()
	for b.Loop() {
		_, _ = d.decode(block, MaxResponseHeaderBytes)
	}
}

// huffLit is a literal server field, its value Huffman-coded.
func huffLit(value string) []byte {
	code := hpack.AppendHuffmanString(nil, value)
	return append([]byte{0x40 | 54, 0x80 | byte(len(code))}, code...) // len < 127
}

// Values decoded before are taken from the cache, which never holds an
// invalid value and stays bounded.
func TestDecodeHeadCache(t *testing.T) {
	var d headDecoder
	for range 2 {
		h, err := d.decode(append([]byte{0x88}, huffLit("nginx/1.22.1")...), MaxResponseHeaderBytes)
		if err != nil || h.header.Get("Server") != "nginx/1.22.1" {
			t.Fatalf("got %v, %v", h.header, err)
		}
	}
	if len(d.cache) != 1 {
		t.Errorf("cache holds %d values, want 1", len(d.cache))
	}
	for i := range 2 {
		if _, err := d.decode(append([]byte{0x88}, huffLit("a\r\nb: c")...), MaxResponseHeaderBytes); err == nil || !strings.Contains(err.Error(), "invalid header field value") {
			t.Fatalf("try %d: error %v, want an invalid value", i, err)
		}
	}
	for i := range 3 * maxCached {
		v := fmt.Sprint("v", i)
		h, err := d.decode(append([]byte{0x88}, huffLit(v)...), MaxResponseHeaderBytes)
		if err != nil || h.header.Get("Server") != v {
			t.Fatalf("got %v, %v", h.header, err)
		}
	}
	if len(d.cache) > maxCached {
		t.Errorf("cache holds %d values, more than %d", len(d.cache), maxCached)
	}
}
