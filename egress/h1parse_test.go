package egress

import (
	"bufio"
	"bytes"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// sameAsReadRequest fails t unless http.ReadRequest makes of b the request
// parseHead made, r, reading the same n bytes.
func sameAsReadRequest(t *testing.T, b []byte, r *http.Request, n int) {
	t.Helper()
	br := bufio.NewReaderSize(bytes.NewReader(b), len(b)+16)
	want, err := http.ReadRequest(br)
	if err != nil {
		t.Fatalf("parseHead took %q, ReadRequest refuses it: %v", b, err)
	}
	if read := len(b) - br.Buffered(); read != n {
		t.Fatalf("%q: parseHead read %d bytes, ReadRequest %d", b, n, read)
	}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("%q:\nparseHead   %+v\nReadRequest %+v", b, r, want)
	}
}

func TestParseHeadCommonRequests(t *testing.T) {
	for _, head := range []string{
		"GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
		"GET /bench HTTP/1.1\r\nHost: api.example.test\r\nUser-Agent: curl/8.14.1\r\nAccept: */*\r\n\r\n",
		"HEAD /a/b?x=1&y=%20 HTTP/1.1\r\nhost: h\r\nx-forwarded-for: 10.0.0.1\r\nX-Forwarded-For:  10.0.0.2 \t\r\n\r\n",
		"GET /%7Euser HTTP/1.1\r\nHost: h:8080\r\nAccept-Encoding: gzip, deflate\r\nCookie: a=b; c=d\r\n\r\n",
		"DELETE /x HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, close\r\n\r\n",
		"GET / HTTP/1.0\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n",
		"OPTIONS /o HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Utf8: caf\xc3\xa9\r\n\r\n",
		"GET http://api.example.test/p?q HTTP/1.1\r\nHost: ignored.test\r\n\r\nGET / HTTP/1.1\r\n", // absolute form; a pipelined request after it
		"GET / HTTP/1.1\r\nHost: h\r\nsec-ch-ua: \"x\"\r\nAccept-Language: en;q=0.9\r\n\r\n",
	} {
		r, n := parseHead([]byte(head))
		if r == nil {
			t.Errorf("parseHead left %q to ReadRequest", head)
			continue
		}
		sameAsReadRequest(t, []byte(head), r, n)
	}
}

func TestParseHeadLeavesTheRestToReadRequest(t *testing.T) {
	for _, tc := range []struct{ name, head string }{
		{"not all buffered", "GET / HTTP/1.1\r\nHost: h\r\n"},
		{"body", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"},
		{"chunked body", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
		{"trailer", "GET / HTTP/1.1\r\nHost: h\r\nTrailer: x\r\n\r\n"},
		{"pragma", "GET / HTTP/1.1\r\nHost: h\r\nPragma: no-cache\r\n\r\n"},
		{"connect", "CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"},
		{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
		{"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n"},
		{"lower-case version", "GET / http/1.1\r\nHost: h\r\n\r\n"},
		{"two spaces", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"bare LF", "GET / HTTP/1.1\nHost: h\r\n\r\n"},
		{"CR in a value", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"},
		{"NUL in a value", "GET / HTTP/1.1\r\nHost: h\x00\r\n\r\n"},
		{"folded line", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n"},
		{"space before colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n"},
		{"no colon", "GET / HTTP/1.1\r\nHost h\r\n\r\n"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"},
		{"bad target", "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"non-ASCII target", "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"non-token method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{"empty request line", "\r\n\r\n"},
	} {
		if r, _ := parseHead([]byte(tc.head)); r != nil {
			t.Errorf("%s: parseHead took %q", tc.name, tc.head)
		}
	}
}

// FuzzParseHead: whatever parseHead takes, ReadRequest reads the same way.
func FuzzParseHead(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET /a?b=c HTTP/1.0\r\nConnection: keep-alive\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
		"GET http://h:80/p HTTP/1.1\r\nhost: g\r\nAccept: */*\r\n\r\n",
		"HEAD /%41 HTTP/1.1\r\nHost: h\r\nConnection: close\r\nX: \t v \t\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if r, n := parseHead(b); r != nil {
			sameAsReadRequest(t, b, r, n)
		}
	})
}

// FuzzParseHeadFields is FuzzParseHead with the head built of a request
// line and header lines, so that most inputs are heads parseHead takes.
func FuzzParseHeadFields(f *testing.F) {
	f.Add("GET", "/", true, "Host: h\nAccept: */*")
	f.Add("HEAD", "http://h/p?q", false, "connection: keep-alive\nx-a:  1 \nX-A:2\nhost: g")
	f.Add("OPTIONS", "/%41", true, "Connection: close, te\nX: \t v")
	f.Fuzz(func(t *testing.T, method, target string, http11 bool, lines string) {
		proto := "HTTP/1.0"
		if http11 {
			proto = "HTTP/1.1"
		}
		head := method + " " + target + " " + proto + "\r\n"
		for _, l := range strings.Split(lines, "\n") {
			if l != "" {
				head += l + "\r\n"
			}
		}
		b := []byte(head + "\r\n")
		if r, n := parseHead(b); r != nil {
			sameAsReadRequest(t, b, r, n)
		}
	})
}

func BenchmarkParseHead(b *testing.B) {
	head := []byte("GET /bench HTTP/1.1\r\nHost: api.example.test\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
	b.Run("parseHead", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if r, _ := parseHead(head); r == nil {
				b.Fatal("not taken")
			}
		}
	})
	b.Run("ReadRequest", func(b *testing.B) {
		b.ReportAllocs()
		rd := bytes.NewReader(head)
		br := bufio.NewReader(rd)
		for b.Loop() {
			rd.Reset(head)
			br.Reset(rd)
			if _, err := http.ReadRequest(br); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestReadRequestTakesCommonHeadsInPlace: a connection reads a common head
// with fewer allocations than http.ReadRequest needs for it.
func TestReadRequestTakesCommonHeadsInPlace(t *testing.T) {
	head := "GET /bench HTTP/1.1\r\nHost: api.example.test\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"
	rd := strings.NewReader(head)
	h := &h1conn{e: &Engine{}, pr: &peekReader{br: bufio.NewReader(rd)}}
	buffered := func() {
		rd.Reset(head)
		h.pr.br.Reset(rd)
		_, _ = h.pr.br.Peek(len(head)) // as waitRequest leaves it
	}
	got := testing.AllocsPerRun(100, func() {
		buffered()
		if r, err := h.readRequest(); err != nil || r.Host != "api.example.test" || h.pr.br.Buffered() != 0 {
			t.Fatalf("readRequest: %v, %v", r, err)
		}
	})
	want := testing.AllocsPerRun(100, func() {
		buffered()
		if _, err := http.ReadRequest(h.pr.br); err != nil {
			t.Fatal(err)
		}
	})
	if got >= want {
		t.Errorf("reading a common head took %v allocations, http.ReadRequest %v", got, want)
	}
}
