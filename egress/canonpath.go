package egress

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// PathNormalization is how much a request path is normalized before it is
// decided on and forwarded: Istio's meshConfig.pathNormalization, whose
// levels turn on Envoy's options in turn.
type PathNormalization uint8

const (
	// PathDefault is MERGE_SLASHES: Istio's default BASE plus the merging
	// of slashes egressgw always did.
	PathDefault PathNormalization = iota
	// PathNone leaves the path as the client sent it (but for a fragment,
	// which is dropped, and for bytes that must be percent-encoded, which are).
	PathNone
	// PathBase is Envoy's normalize_path: percent-encoded unreserved
	// characters (letters, digits, '-', '.', '_', '~') are decoded, other
	// escapes written in upper case, '\' becomes '/', and dot segments are
	// removed (RFC 3986 §5.2.4).
	PathBase
	// PathMergeSlashes is BASE, then Envoy's merge_slashes: "//" becomes "/".
	PathMergeSlashes
	// PathDecodeAndMergeSlashes first decodes %2F, %2f, %5C and %5c (Envoy's
	// path_with_escaped_slashes_action UNESCAPE_AND_FORWARD), then is
	// MERGE_SLASHES.
	PathDecodeAndMergeSlashes
)

var pathNormalizationNames = [...]string{"", "NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES"}

// ParsePathNormalization reads Istio's name of a level.
func ParsePathNormalization(s string) (PathNormalization, error) {
	for i, n := range pathNormalizationNames {
		if n != "" && strings.EqualFold(s, n) {
			return PathNormalization(i), nil
		}
	}
	return 0, fmt.Errorf("path normalization %q: want NONE, BASE, MERGE_SLASHES or DECODE_AND_MERGE_SLASHES", s)
}

func (p PathNormalization) String() string {
	if p == PathDefault {
		p = PathMergeSlashes
	}
	if int(p) < len(pathNormalizationNames) {
		return pathNormalizationNames[p]
	}
	return "PathNormalization(" + fmt.Sprint(uint8(p)) + ")"
}

// normalizeTarget normalizes the path of r's request target at level and
// drops its fragment, setting r.URL so that every forwarding path sends
// what it returns: the path the policy is to decide on, percent-encoded
// as it goes out. It returns why the target is refused instead, if it is.
// A target whose path needs no change costs nothing.
func normalizeTarget(r *http.Request, level PathNormalization) (string, string) {
	target := r.RequestURI
	if r.Method == http.MethodConnect || target == "*" {
		return r.URL.Path, ""
	}
	if target == "" { // not read off the wire (tests, handlers in process)
		target = r.URL.RequestURI()
	}
	fragment := false
	if i := strings.IndexByte(target, '#'); i >= 0 { // Envoy drops a fragment: it is not the server's
		target, fragment = target[:i], true
	}
	raw := target
	if raw != "" && raw[0] != '/' { // absolute form: scheme://authority/path?query
		if i := strings.Index(raw, "://"); i >= 0 {
			raw = raw[i+3:]
		}
		if i := strings.IndexAny(raw, "/?"); i >= 0 {
			raw = raw[i:]
		} else {
			raw = ""
		}
	}
	raw, query, hasQuery := strings.Cut(raw, "?")
	p, problem := normalizePath(raw, level)
	if problem != "" {
		return "", problem
	}
	if fragment {
		r.URL.RawQuery, r.URL.ForceQuery, r.URL.Fragment, r.URL.RawFragment = query, hasQuery && query == "", "", ""
	}
	if p == raw && !fragment && r.URL.RawPath == "" && r.URL.Path == p && r.URL.Opaque == "" {
		return p, "" // Go's URL already reads and writes it so
	}
	decoded, err := url.PathUnescape(p)
	if err != nil { // normalizePath checked every escape
		return "", "path " + p + ": " + err.Error()
	}
	// An opaque part ("http:x") would be sent instead of the path.
	r.URL.Path, r.URL.RawPath, r.URL.Opaque = decoded, p, ""
	if got := r.URL.EscapedPath(); got != p { // cannot happen: p has only bytes Go leaves alone
		return "", "path " + p + " would be sent as " + got
	}
	return p, ""
}

// normalizePath returns the normalized form of the escaped path p, or
// what is wrong with it: an escape that is not '%' and two hex digits,
// %00 (which Istio refuses too), or a control character. Other bytes a
// path may not carry unencoded (RFC 3986: space, '"', '<', '>', '\' at
// level NONE, '^', '`', '{', '|', '}' and anything not ASCII) come out
// percent-encoded, as Go would write them to the upstream anyway.
func normalizePath(p string, level PathNormalization) (string, string) {
	if level == PathDefault {
		level = PathMergeSlashes
	}
	if p == "" {
		return "/", ""
	}
	if !pathNeedsWork(p, level) {
		return p, ""
	}
	b := make([]byte, 0, len(p)+8)
	if p[0] != '/' {
		b = append(b, '/')
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				end := min(i+3, len(p))
				return "", "invalid percent-encoding " + quoteASCII(p[i:end]) + " in the path"
			}
			v := unhex(p[i+1])<<4 | unhex(p[i+2])
			switch {
			case v == 0:
				return "", "%00 in the path"
			case level >= PathBase && isUnreserved(v):
				b = append(b, v)
			case level >= PathDecodeAndMergeSlashes && (v == '/' || v == '\\'):
				b = append(b, '/')
			case level >= PathBase:
				b = append(b, '%', upperHex[v>>4], upperHex[v&15])
			default:
				b = append(b, p[i:i+3]...)
			}
			i += 2
		case c == '\\' && level >= PathBase:
			b = append(b, '/')
		case c < ' ' || c == 0x7f:
			return "", "control character " + quoteASCII(p[i:i+1]) + " in the path"
		case pathByte(c):
			b = append(b, c)
		default:
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
		}
	}
	s := string(b)
	if level >= PathBase {
		s = removeDotSegments(s)
	}
	if level >= PathMergeSlashes {
		s = mergeSlashes(s)
	}
	return s, ""
}

// pathNeedsWork reports whether normalizePath would change p: the fast
// path for the common path, which it leaves as it is without allocating.
func pathNeedsWork(p string, level PathNormalization) bool {
	if p[0] != '/' {
		return true
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%', c == '\\', !pathByte(c):
			return true
		case c != '/' || level < PathBase:
		case i+1 < len(p) && p[i+1] == '/' && level >= PathMergeSlashes:
			return true
		case i+1 < len(p) && p[i+1] == '.':
			// "/." or "/.." ending the path or followed by '/'
			rest := p[i+1:]
			if rest == "." || rest == ".." || strings.HasPrefix(rest, "./") || strings.HasPrefix(rest, "../") {
				return true
			}
		}
	}
	return false
}

// removeDotSegments removes the "." and ".." segments of an absolute path,
// as RFC 3986 §5.2.4 does: a path that ended in one ends with '/'.
func removeDotSegments(p string) string {
	segs := strings.Split(p[1:], "/")
	out := segs[:0]
	for i, s := range segs {
		last := i == len(segs)-1
		switch s {
		case ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
			continue
		}
		if last {
			out = append(out, "")
		}
	}
	return "/" + strings.Join(out, "/")
}

// mergeSlashes replaces each run of slashes with one.
func mergeSlashes(p string) string {
	if !strings.Contains(p, "//") {
		return p
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b = append(b, p[i])
	}
	return string(b)
}

// pathByte reports whether c may stand unencoded in a path as Go's
// url.URL writes it: unreserved, sub-delims, ':', '@', '/', and '[' ']'
// (left alone by browsers and by Go).
func pathByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', ':', '@', '/', '[', ']':
		return true
	}
	return false
}

func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

const upperHex = "0123456789ABCDEF"

// quoteASCII quotes s for a message, escaping what is not printable ASCII.
func quoteASCII(s string) string { return fmt.Sprintf("%+q", s) }
