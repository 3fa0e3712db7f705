package origination

import (
	"io"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestH2DynamicTableBeforeAck: an upstream may use HPACK's dynamic table
// (4096 bytes) until it has acknowledged our SETTINGS_HEADER_TABLE_SIZE 0
// (RFC 9113 §6.5.3), as h2o 2.2.5 does. Responses that refer to entries
// added before the ACK decode, and so do those after it, whether the
// upstream then empties the table with a size update (as RFC 7541 §4.2
// asks) or, as some servers do, goes on using it.
func TestH2DynamicTableBeforeAck(t *testing.T) {
	for _, tt := range []struct {
		name       string
		sizeUpdate bool // after the ACK, the upstream's encoder shrinks its table to 0
	}{
		{"size update after the ACK", true},
		{"no size update after the ACK", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := newFirstConnRawH2Server(t, func(rc *rawH2Conn) {
				if err := rc.handshake(); err != nil {
					t.Error(err)
					return
				}
				// Read without acknowledging the client's SETTINGS until
				// two requests came.
				var ids []uint32
				for len(ids) < 2 {
					f, err := rc.fr.ReadFrame()
					if err != nil {
						t.Errorf("waiting for two requests: %v", err)
						return
					}
					if hf, ok := f.(*http2.MetaHeadersFrame); ok {
						ids = append(ids, hf.StreamID)
					}
				}
				respond := func(id uint32) {
					// The same fields each time: the encoder adds them to
					// its table first, then refers to them.
					_ = rc.headers(id, true, ":status", "200", "x-dyn", "a value worth indexing", "content-length", "0")
				}
				for _, id := range ids {
					respond(id)
				}
				if err := rc.fr.WriteSettingsAck(); err != nil {
					t.Error(err)
					return
				}
				if tt.sizeUpdate {
					rc.henc.SetMaxDynamicTableSizeLimit(0)
				}
				for range 2 {
					hf, err := rc.request()
					if err != nil {
						t.Error(err)
						return
					}
					respond(hf.StreamID)
				}
				_, _ = io.Copy(io.Discard, rc)
			})
			p := newTestH2Pool(t, u)
			c1, s1 := openStream(t, p, h2Req("http", "GET", "/1"))
			_, s2 := openStream(t, p, h2Req("http", "GET", "/2"))
			check := func(name string, s *H2Stream) {
				t.Helper()
				resp, err := s.ReadResponse()
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if got := resp.Header.Get("X-Dyn"); resp.StatusCode != 200 || got != "a value worth indexing" {
					t.Errorf("%s: status %d, x-dyn %q; want 200, %q", name, resp.StatusCode, got, "a value worth indexing")
				}
				_ = s.Close()
			}
			check("response before the ACK, adding to the table", s1)
			check("response before the ACK, from the table", s2)
			for _, name := range []string{"first response after the ACK", "second response after the ACK"} {
				c, s := openStream(t, p, h2Req("http", "GET", "/after"))
				if c != c1 {
					t.Fatalf("%s: on another connection (the first failed)", name)
				}
				check(name, s)
			}
		})
	}
}

// A table size update above what our SETTINGS allow is a compression
// error, before the ACK (above 4096) and after it (above 0).
func TestDynTableSizeUpdateLimit(t *testing.T) {
	var d headDecoder
	d.tab = newConnTable()
	if _, err := d.decode([]byte{0x3f, 0xe1, 0x1f, 0x88}, MaxResponseHeaderBytes); err != nil { // 4096
		t.Fatalf("size update to 4096 before the ACK: %v", err)
	}
	if _, err := d.decode([]byte{0x3f, 0xe2, 0x1f, 0x88}, MaxResponseHeaderBytes); err == nil { // 4097
		t.Fatal("size update to 4097 before the ACK: accepted")
	}
	d.tab.settingsAcked()
	if _, err := d.decode([]byte{0x3f, 0x01, 0x88}, MaxResponseHeaderBytes); err == nil { // 32
		t.Fatal("size update to 32 after the ACK: accepted")
	}
	if _, err := d.decode([]byte{0x20, 0x88}, MaxResponseHeaderBytes); err != nil {
		t.Fatalf("size update to 0 after the ACK: %v", err)
	}
}

// TestH2OverLimitBlockWithTable: a header block over MaxResponseHeaderBytes
// from an upstream whose dynamic table may hold entries cannot be skipped
// (the tables would part ways): the connection ends, its stream failing
// with an error that names the limit and the table; the next request is
// served on a new connection.
func TestH2OverLimitBlockWithTable(t *testing.T) {
	u := newFirstConnH2Server(t, func(rc *rawH2Conn, hf *http2.MetaHeadersFrame) {
		rc.hbuf.Reset() // "~" has a long Huffman code: the block is sent raw, over the limit in bytes
		for _, kv := range [][2]string{{":status", "200"}, {"x-big", strings.Repeat("~", MaxResponseHeaderBytes)}} {
			_ = rc.henc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
		}
		rc.headerBlock(hf.StreamID, false, rc.hbuf.Bytes(), 16384)
		_, _ = io.Copy(io.Discard, rc)
	})
	p := newTestH2Pool(t, u)
	c1, s := openStream(t, p, h2Req("http", "GET", "/big"))
	_, err := s.ReadResponse()
	if err == nil || !strings.Contains(err.Error(), "exceed 64 KiB") || !strings.Contains(err.Error(), "dynamic table") {
		t.Fatalf("head over the limit: %v; want an error naming 64 KiB and the dynamic table", err)
	}
	res, err := roundTrip(p, h2Req("http", "GET", "/next"), nil, nil)
	if err != nil || res.conn == c1 || res.resp.StatusCode != 204 {
		t.Fatalf("next request: %v (same connection: %v); want 204 on a new connection", err, res.conn == c1)
	}
}
