package egress

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// sameAsReadResponse fails t unless http.ReadResponse makes of b the
// response parseResponseHead made, resp, reading the same n head bytes and
// the same body.
func sameAsReadResponse(t *testing.T, b []byte, req *http.Request, resp *http.Response, n int) {
	t.Helper()
	br := bufio.NewReaderSize(bytes.NewReader(b), len(b)+16)
	want, err := http.ReadResponse(br, req)
	if err != nil {
		t.Fatalf("parseResponseHead took %q, ReadResponse refuses it: %v", b, err)
	}
	rest := len(b) - n
	if br.Buffered() != rest {
		t.Fatalf("%q: parseResponseHead read %d head bytes, ReadResponse %d", b, n, len(b)-br.Buffered())
	}
	wantBody, wantErr := io.ReadAll(want.Body)
	gotBody, gotErr := io.ReadAll(resp.Body)
	if !bytes.Equal(gotBody, wantBody) || (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%q: body %q (%v), ReadResponse's %q (%v)", b, gotBody, gotErr, wantBody, wantErr)
	}
	g, w := *resp, *want
	g.Body, w.Body = nil, nil
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%q:\nparseResponseHead %+v\nReadResponse      %+v", b, g, w)
	}
}

// parseResponse runs parseResponseHead on b as readResponse does, its body read from what follows the head.
func parseResponse(b []byte, method string) (*http.Response, *http.Request, int) {
	req := &http.Request{Method: method}
	var body responseBody
	resp, n := parseResponseHead(b, req, &body, nil)
	if resp != nil {
		body.R = bytes.NewReader(b[n:])
	}
	return resp, req, n
}

func TestParseResponseHeadCommonResponses(t *testing.T) {
	for _, head := range []string{
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 11:29:42 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 5\r\nConnection: keep-alive\r\nLast-Modified: Thu, 03 Dec 2026 11:00:00 GMT\r\nETag: \"x\"\r\nAccept-Ranges: bytes\r\n\r\nhello",
		"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabcNEXT", // Connection: close is taken out, as ReadResponse does
		"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nhi",
		"HTTP/1.1 503\r\nContent-Length: 1\r\n\r\nx",
		"HTTP/1.1 200  two spaces\r\nContent-Length:  007 \r\nSet-Cookie: a=b\r\nSet-Cookie: c=d\r\n\r\n1234567",
		"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 4\r\nX-Utf8: caf\xc3\xa9\r\n\r\nshort", // more bytes than the body: the next response's
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",                                          // the body ends early: both fail the read
	} {
		resp, req, n := parseResponse([]byte(head), http.MethodGet)
		if resp == nil {
			t.Errorf("parseResponseHead left %q to ReadResponse", head)
			continue
		}
		sameAsReadResponse(t, []byte(head), req, resp, n)
	}
}

func TestParseResponseHeadLeavesTheRestToReadResponse(t *testing.T) {
	for _, tc := range []struct{ name, method, head string }{
		{"not all buffered", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"},
		{"HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"},
		{"interim", "GET", "HTTP/1.1 100 Continue\r\n\r\n"},
		{"103", "GET", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nContent-Length: 0\r\n\r\n"},
		{"204", "GET", "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"},
		{"304", "GET", "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n"},
		{"no length", "GET", "HTTP/1.1 200 OK\r\n\r\nuntil close"},
		{"two lengths", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx"},
		{"length list", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 1, 1\r\n\r\nx"},
		{"signed length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx"},
		{"empty length", "GET", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n"},
		{"chunked", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"trailer", "GET", "HTTP/1.1 200 OK\r\nTrailer: x\r\nContent-Length: 0\r\n\r\n"},
		{"pragma", "GET", "HTTP/1.1 200 OK\r\nPragma: no-cache\r\nContent-Length: 0\r\n\r\n"},
		{"HTTP/1.2", "GET", "HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"lower-case version", "GET", "http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"two spaces before the code", "GET", "HTTP/1.1  200 OK\r\nContent-Length: 0\r\n\r\n"},
		{"signed code", "GET", "HTTP/1.1 +20 OK\r\nContent-Length: 0\r\n\r\n"},
		{"four-digit code", "GET", "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n"},
		{"bare LF in the status line", "GET", "HTTP/1.1 200 O\nK\r\nContent-Length: 0\r\n\r\n"},
		{"folded line", "GET", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n"},
		{"space before colon", "GET", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n"},
	} {
		if resp, _, _ := parseResponse([]byte(tc.head), tc.method); resp != nil {
			t.Errorf("%s: parseResponseHead took %q", tc.name, tc.head)
		}
	}
}

// FuzzParseResponseHead: whatever parseResponseHead takes, ReadResponse reads the same way.
func FuzzParseResponseHead(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi",
		"HTTP/1.0 404 Not Found\r\nConnection: keep-alive\r\nContent-Length: 0\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
		"HTTP/1.1 301 Moved\r\nLocation: https://h/\r\nConnection: close, te\r\nContent-Length: 3\r\n\r\nabc",
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, b []byte, head bool) {
		method := http.MethodGet
		if head {
			method = http.MethodHead
		}
		if resp, req, n := parseResponse(b, method); resp != nil {
			sameAsReadResponse(t, b, req, resp, n)
		}
	})
}

// FuzzParseResponseHeadFields is FuzzParseResponseHead with the head built
// of a status line, header lines and a Content-Length, so that most inputs
// are heads parseResponseHead takes.
func FuzzParseResponseHeadFields(f *testing.F) {
	f.Add("200 OK", true, "Server: nginx\nConnection: keep-alive", "2", "hi")
	f.Add("404", false, "connection: close\nx-a:  1 \nX-A:2", "0", "")
	f.Add("503 Service Unavailable", true, "Connection: close, te\nX: \t v", "5", "abc")
	f.Fuzz(func(t *testing.T, status string, http11 bool, lines, length, body string) {
		proto := "HTTP/1.0"
		if http11 {
			proto = "HTTP/1.1"
		}
		head := proto + " " + status + "\r\n"
		for _, l := range strings.Split(lines, "\n") {
			if l != "" {
				head += l + "\r\n"
			}
		}
		b := []byte(head + "Content-Length: " + length + "\r\n\r\n" + body)
		if resp, req, n := parseResponse(b, http.MethodGet); resp != nil {
			sameAsReadResponse(t, b, req, resp, n)
		}
	})
}

func BenchmarkParseResponseHead(b *testing.B) {
	head := []byte("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Thu, 03 Dec 2026 11:29:42 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 1024\r\nConnection: keep-alive\r\nLast-Modified: Thu, 03 Dec 2026 11:00:00 GMT\r\nETag: \"x\"\r\nAccept-Ranges: bytes\r\n\r\n")
	req := &http.Request{Method: http.MethodGet}
	b.Run("parseResponseHead", func(b *testing.B) {
		b.ReportAllocs()
		var body responseBody
		for b.Loop() {
			if resp, _ := parseResponseHead(head, req, &body, nil); resp == nil {
				b.Fatal("not taken")
			}
		}
	})
	b.Run("ReadResponse", func(b *testing.B) {
		b.ReportAllocs()
		rd := bytes.NewReader(head)
		br := bufio.NewReader(rd)
		for b.Loop() {
			rd.Reset(head)
			br.Reset(rd)
			if _, err := http.ReadResponse(br, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
