package egress

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzNormalizePath holds normalizePath to its promises at every level: it
// never panics; a normalized path is its own normalized form; it starts
// with '/', carries only bytes Go's url.URL writes as they are and valid
// escapes, so it goes out as decided; at BASE and above it has no dot
// segment and no '\', and at MERGE_SLASHES and above no "//".
func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "/a/../b", `/\admin`, "//a//b/", "/%2e%2E/x", "/%2561", "/a%2fb", "/%zz", "/%00",
		"/..;/a", "/ａ", "a/b", "/a/.", "/a/..", "/%5c%2F", "/a?b", "/.%2e/"} {
		f.Add(s, uint8(PathMergeSlashes))
	}
	f.Fuzz(func(t *testing.T, p string, lv uint8) {
		level := PathNormalization(lv % 5)
		got, problem := normalizePath(p, level)
		if problem != "" {
			if got != "" {
				t.Fatalf("normalizePath(%q, %v) = %q with problem %q", p, level, got, problem)
			}
			return
		}
		if again, problem := normalizePath(got, level); again != got || problem != "" {
			t.Fatalf("%v: %q -> %q -> %q, %q: not idempotent", level, p, got, again, problem)
		}
		if !strings.HasPrefix(got, "/") {
			t.Fatalf("%v: %q -> %q: not absolute", level, p, got)
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c != '%' && !pathByte(c) {
				t.Fatalf("%v: %q -> %q: byte %q left unencoded", level, p, got, c)
			}
		}
		decoded, err := url.PathUnescape(got)
		if err != nil {
			t.Fatalf("%v: %q -> %q: %v", level, p, got, err)
		}
		u := &url.URL{Path: decoded, RawPath: got}
		if sent := u.EscapedPath(); sent != got {
			t.Fatalf("%v: %q decided as %q, sent as %q", level, p, got, sent)
		}
		if level == PathDefault || level >= PathBase {
			segs := strings.Split(got, "/")
			for _, s := range segs {
				if s == "." || s == ".." {
					t.Fatalf("%v: %q -> %q: dot segment left", level, p, got)
				}
			}
		}
		if (level == PathDefault || level >= PathMergeSlashes) && strings.Contains(got, "//") {
			t.Fatalf("%v: %q -> %q: slashes not merged", level, p, got)
		}
	})
}

// FuzzCanonicalHost: canonicalHost never panics, a canonical host is its
// own canonical form, and it is lowercase ASCII.
func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{"echo.test", "ECHO.TEST.", "echo.test:8080", "echo.test:", "[::1]:80", "[FE80::1]", "a..b",
		"echo.test:99999", "10.0.0.1:80", "::1", "[::1"} {
		f.Add(s, uint16(8080))
	}
	f.Fuzz(func(t *testing.T, h string, port uint16) {
		if port == 0 {
			port = 80
		}
		got, problem := canonicalHost(h, uint32(port))
		if problem != "" {
			return
		}
		if again, problem := canonicalHost(got, uint32(port)); again != got || problem != "" {
			t.Fatalf("%q -> %q -> %q, %q: not idempotent", h, got, again, problem)
		}
		if hasUpper(got) || strings.HasSuffix(requestHost(got), ".") {
			t.Fatalf("%q -> %q: not canonical", h, got)
		}
		for i := 0; i < len(got); i++ {
			if got[i] <= ' ' || got[i] >= 0x7f {
				t.Fatalf("%q -> %q: byte %q", h, got, got[i])
			}
		}
	})
}
