package egress

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// parseHead makes, of a request head already buffered at the start of b,
// the *http.Request that http.ReadRequest would make of it, for the common
// case only: a request line "METHOD target HTTP/1.1" (or 1.0) and plain
// "Name: value" lines, with no body framing. It allocates about half as
// often: the head becomes one string, and the method, target, keys and
// values are cut from it.
//
// Anything else returns nil and is left to http.ReadRequest on the same
// bytes, which stays the one authority on what is valid and how it reads:
// a head not all buffered, CONNECT and PRI, an HTTP version other than 1.0
// and 1.1, a byte a plain head does not have (any control character but a
// value's tab, non-ASCII outside values), a folded line, a duplicate Host,
// and the headers whose meaning ReadRequest works out beyond reading them
// (Content-Length, Transfer-Encoding, Trailer, Pragma). FuzzParseHead holds
// the two to the same request and the same bytes read.
func parseHead(b []byte) (*http.Request, int) {
	end := bytes.Index(b, crlf2)
	if end < 0 {
		return nil, 0
	}
	n := end + len(crlf2)
	s := string(b[:n])

	line, rest, _ := strings.Cut(s, "\r\n")
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 || !isToken(method) || method == "CONNECT" || method == "PRI" || !isTarget(target) {
		return nil, 0
	}
	r := &http.Request{Method: method, RequestURI: target, Proto: proto, ProtoMajor: 1, Body: http.NoBody}
	switch proto {
	case "HTTP/1.1":
		r.ProtoMinor = 1
	case "HTTP/1.0":
	default:
		return nil, 0
	}
	var err error
	if r.URL, err = url.ParseRequestURI(target); err != nil {
		return nil, 0 // ReadRequest says why
	}

	var f headFields
	hdr := parseFields(rest, false, &f)
	if hdr == nil {
		return nil, 0
	}
	r.Header = hdr
	if r.Host = r.URL.Host; r.Host == "" {
		r.Host = f.host
	}
	conn := hdr["Connection"]
	r.Close = httpguts.HeaderValuesContainsToken(conn, "close")
	if r.ProtoMinor == 0 {
		r.Close = r.Close || !httpguts.HeaderValuesContainsToken(conn, "keep-alive")
	}
	return r, n
}

var crlf2 = []byte("\r\n\r\n")

// headFields is what parseFields keeps aside of a head's header lines.
type headFields struct {
	host          string // a request's Host, which net/http keeps out of the header map
	contentLength string // a response's Content-Length value
	lengths       int    // how many Content-Length lines a response has
}

// parseFields reads the header lines of rest (a head after its first line,
// ending with the blank line) as textproto.ReadMIMEHeader does: one string
// slice for every value, canonical keys. It returns nil for anything it
// leaves to net/http (see parseHead): a byte a plain head does not have,
// a folded line, and the headers whose meaning net/http works out beyond
// reading them. A request's Host is kept in f (a second one: nil); a
// response's Content-Length is kept in the map and counted in f.
func parseFields(rest string, response bool, f *headFields) http.Header {
	lines := strings.Count(rest, "\r\n") - 1 // the blank line ends the head
	var values []string
	if lines > 0 {
		values = make([]string, lines)
	}
	hdr := make(http.Header, lines)
	hasHost := false
	for {
		var line string
		line, rest, _ = strings.Cut(rest, "\r\n")
		if line == "" {
			return hdr
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok || !isToken(key) || !isFieldValue(value) {
			return nil
		}
		if !isCanonical(key) {
			key = http.CanonicalHeaderKey(key)
		}
		value = trimOWS(value)
		switch key {
		case "Transfer-Encoding", "Trailer", "Pragma":
			return nil
		case "Content-Length":
			if !response {
				return nil
			}
			f.contentLength = value
			f.lengths++
		case "Host":
			if response {
				break
			}
			if hasHost { // ReadRequest keeps it in r.Host only
				return nil
			}
			f.host, hasHost = value, true
			continue
		}
		if vv := hdr[key]; vv != nil {
			hdr[key] = append(vv, value)
		} else {
			hdr[key], values = values[:1:1], values[1:]
			hdr[key][0] = value
		}
	}
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}

// isTarget reports whether s is non-empty and printable ASCII without spaces.
func isTarget(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// isFieldValue reports whether s is a field value that does not start a
// folded line: visible characters, spaces, tabs and obs-text, and no line
// start with a space or tab (the caller's key rules that out already).
func isFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// trimOWS cuts the spaces and tabs around a field value.
func trimOWS(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

// isCanonical reports whether the token key is already in the form
// http.CanonicalHeaderKey gives it: upper case first and after each
// hyphen, lower case elsewhere.
func isCanonical(key string) bool {
	upper := true
	for i := 0; i < len(key); i++ {
		c := key[i]
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			return false
		}
		upper = c == '-'
	}
	return true
}
