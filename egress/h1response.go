package egress

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// parseResponseHead makes, of an upstream's response head to req already
// buffered at the start of b, the *http.Response that http.ReadResponse
// would make of it, for the common case only: a status line
// "HTTP/1.1 200 OK" (or 1.0), plain header lines, and a body framed by one
// Content-Length. It allocates about a quarter as often: the head becomes
// one string, keys and values are cut from it, and the body reads through
// body, which the caller owns and reuses (rest is what it reads from).
//
// Anything else returns nil and is left to http.ReadResponse on the same
// bytes, which stays the one authority on what is valid and how it reads:
// a head not all buffered, an interim (1xx), 204 or 304 response, a
// response to HEAD, no Content-Length or more than one, chunked or other
// transfer codings, trailers, Pragma, an HTTP version other than 1.0 and
// 1.1, a status line that is not plain, and what parseFields leaves.
// FuzzParseResponseHead holds the two to the same response, the same
// bytes read and the same body.
func parseResponseHead(b []byte, req *http.Request, body *responseBody, rest io.Reader) (*http.Response, int) {
	if req.Method == http.MethodHead {
		return nil, 0
	}
	end := bytes.Index(b, crlf2)
	if end < 0 {
		return nil, 0
	}
	n := end + len(crlf2)
	s := string(b[:n])
	line, fields, _ := strings.Cut(s, "\r\n")
	if len(line) < 12 || line[8] != ' ' || len(line) > 12 && line[12] != ' ' || !isDigits(line[9:12]) || !isFieldValue(line) {
		return nil, 0
	}
	resp := &http.Response{Proto: line[:8], ProtoMajor: 1, Status: line[9:], Request: req}
	switch resp.Proto {
	case "HTTP/1.1":
		resp.ProtoMinor = 1
	case "HTTP/1.0":
	default:
		return nil, 0
	}
	code := int(line[9]-'0')*100 + int(line[10]-'0')*10 + int(line[11]-'0')
	if code < 200 || code == http.StatusNoContent || code == http.StatusNotModified {
		return nil, 0
	}
	resp.StatusCode = code
	var f headFields
	hdr := parseFields(fields, true, &f)
	if hdr == nil || f.lengths != 1 || len(f.contentLength) == 0 || len(f.contentLength) > 18 || !isDigits(f.contentLength) {
		return nil, 0
	}
	var cl int64
	for i := 0; i < len(f.contentLength); i++ {
		cl = cl*10 + int64(f.contentLength[i]-'0')
	}
	resp.Header, resp.ContentLength = hdr, cl
	conn := hdr["Connection"]
	hasClose := httpguts.HeaderValuesContainsToken(conn, "close")
	if resp.ProtoMinor == 0 {
		resp.Close = hasClose || !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	} else if resp.Close = hasClose; hasClose {
		delete(hdr, "Connection") // as ReadResponse does
	}
	if cl == 0 {
		resp.Body = http.NoBody
	} else {
		body.R, body.N = rest, cl
		resp.Body = body
	}
	return resp, n
}

// readResponse reads the response head to r from br: parsed in place
// (parseResponseHead) once its first bytes are in, when it is all there and
// common, otherwise by http.ReadResponse.
func (h *h1conn) readResponse(br *bufio.Reader, r *http.Request) (*http.Response, error) {
	return readResponseHead(br, r, &h.respBody)
}

// readResponseHead is readResponse with the body reader body (which a
// parsed head's response reads through).
func readResponseHead(br *bufio.Reader, r *http.Request, body *responseBody) (*http.Response, error) {
	if _, err := br.Peek(1); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // as ReadResponse says it
		}
		return nil, err
	}
	b, _ := br.Peek(br.Buffered())
	if resp, n := parseResponseHead(b, r, body, br); resp != nil {
		_, _ = br.Discard(n)
		return resp, nil
	}
	return http.ReadResponse(br, r)
}

// responseBody reads a response body of known length; an end before it
// is io.ErrUnexpectedEOF, as net/http's body says. Its Close does nothing
// (the connection under it is the caller's to keep or close).
type responseBody struct{ io.LimitedReader }

func (b *responseBody) Read(p []byte) (int, error) {
	n, err := b.LimitedReader.Read(p)
	if err == io.EOF && b.N > 0 {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (*responseBody) Close() error { return nil }

// isDigits reports whether s is ASCII digits only.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
