package egress

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestCanonicalHost(t *testing.T) {
	long63 := strings.Repeat("a", 63)
	for _, tt := range []struct {
		host    string
		port    uint32
		want    string
		problem string // a part of the problem named; "" for a valid host
	}{
		{"echo.test", 80, "echo.test", ""},
		{"echo.test", 8080, "echo.test", ""}, // no port written: none added
		{"ECHO.TEST", 80, "echo.test", ""},
		{"echo.test.", 80, "echo.test", ""},
		{"Echo.Test.:80", 80, "echo.test", ""},
		{"echo.test:80", 80, "echo.test", ""}, // the default port of plain HTTP
		{"echo.test:8080", 8080, "echo.test:8080", ""},
		{"echo.test:08080", 8080, "echo.test:8080", ""},
		{"echo.test:9999", 80, "echo.test", ""},        // the port the client addressed is the listener's
		{"echo.test:9999", 8080, "echo.test:8080", ""}, // likewise
		{"echo.test:", 8080, "echo.test", ""},          // an empty port is the default (RFC 3986)
		{"svc_a.ns.svc.cluster.local", 80, "svc_a.ns.svc.cluster.local", ""},
		{"10.0.0.1:8080", 8080, "10.0.0.1:8080", ""},
		{"[::1]", 80, "[::1]", ""},
		{"[::1]:8080", 8080, "[::1]:8080", ""},
		{"[FE80::1]:80", 80, "[fe80::1]", ""},
		{long63 + ".test", 80, long63 + ".test", ""},
		{"echo.test..", 80, "", "empty label"},
		{"a..b", 80, "", "empty label"},
		{".echo.test", 80, "", "empty label"},
		{".", 80, "", "empty label"},
		{long63 + "a.test", 80, "", "label of 64 characters, over 63"},
		{strings.Repeat("a.", 127) + "ab", 80, "", "over 253"},
		{"echo test", 80, "", "not a letter, digit"},
		{"echo.test/x", 80, "", "not a letter, digit"},
		{"écho.test", 80, "", "not a letter, digit"},
		{"*.test", 80, "", "not a letter, digit"},
		{"echo.test:http", 80, "", "not a number"},
		{"echo.test:-1", 80, "", "not a number"},
		{"echo.test:65536", 80, "", "out of range"},
		{"echo.test:0", 80, "", "out of range"},
		{"echo.test:99999999999999999999", 80, "", "out of range"},
		{"::1", 80, "", "more than one ':'"},
		{"[::1", 80, "", "no closing"},
		{"[::1]x", 80, "", "after its IPv6 address"},
		{"[10.0.0.1]", 80, "", "not an IPv6 address"},
		{"[fe80::1%eth0]", 80, "", "not an IPv6 address"},
	} {
		got, problem := canonicalHost(tt.host, tt.port)
		switch {
		case tt.problem == "" && (problem != "" || got != tt.want):
			t.Errorf("canonicalHost(%q, %d) = %q, %q; want %q", tt.host, tt.port, got, problem, tt.want)
		case tt.problem != "" && !strings.Contains(problem, tt.problem):
			t.Errorf("canonicalHost(%q, %d) = %q, problem %q; want a problem saying %q", tt.host, tt.port, got, problem, tt.problem)
		}
	}
}

// The hot path: an already canonical Host, and a plain path, cost no allocation.
func TestCanonicalFastPathAllocs(t *testing.T) {
	r := &http.Request{Method: http.MethodGet, RequestURI: "/bench?x=1", Host: "api.example.test:8080"}
	r.URL, _ = url.ParseRequestURI(r.RequestURI)
	n := testing.AllocsPerRun(100, func() {
		if h, p := canonicalHost("api.example.test", 8080); h == "" || p != "" {
			t.Fatal(h, p)
		}
		if h, p := canonicalHost(r.Host, 8080); h != r.Host || p != "" {
			t.Fatal(h, p)
		}
		if p, problem := normalizeTarget(r, PathMergeSlashes); p != "/bench" || problem != "" {
			t.Fatal(p, problem)
		}
	})
	if n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}

func TestNormalizePath(t *testing.T) {
	const (
		none   = PathNone
		base   = PathBase
		merge  = PathMergeSlashes
		decode = PathDecodeAndMergeSlashes
	)
	for _, tt := range []struct {
		level   PathNormalization
		in      string
		want    string
		problem string
	}{
		{merge, "/a/b", "/a/b", ""},
		{merge, "", "/", ""},
		{merge, "/", "/", ""},
		{merge, "/public/../admin", "/admin", ""},
		{merge, "/a/./b/", "/a/b/", ""},
		{merge, "/a/.", "/a/", ""},
		{merge, "/a/..", "/", ""},
		{merge, "/../../a", "/a", ""},
		{merge, "//admin", "/admin", ""},
		{merge, "/a//../b", "/a/b", ""}, // Envoy: dot segments first, then slashes merged
		{merge, `/\admin`, "/admin", ""},
		{merge, "/%61dmin", "/admin", ""}, // unreserved characters are decoded
		{merge, "/%7e%2D%2e%5F", "/~-._", ""},
		{merge, "/%2e%2e/admin", "/admin", ""},
		{merge, "/x/%2E%2e/admin", "/admin", ""},
		{merge, "/%2561dmin", "/%2561dmin", ""}, // decoded once only
		{merge, "/a%2fb", "/a%2Fb", ""},         // escapes in upper case, slashes left encoded
		{merge, "/a/..%2fadmin", "/a/..%2Fadmin", ""},
		{merge, "/..;/admin", "/..;/admin", ""}, // not a dot segment
		{merge, "/admin%20", "/admin%20", ""},
		{merge, "/ａ", "/%EF%BD%81", ""},
		{merge, `/a"b<c>{|}^`, "/a%22b%3Cc%3E%7B%7C%7D%5E", ""},
		{merge, "/.a/..b/...", "/.a/..b/...", ""},
		{merge, "/%zz", "", `invalid percent-encoding "%zz"`},
		{merge, "/a%2", "", `invalid percent-encoding "%2"`},
		{merge, "/a%", "", `invalid percent-encoding "%"`},
		{merge, "/%00", "", "%00"},
		{merge, "/a\x00b", "", `control character "\x00"`},
		{merge, "/a\x7f", "", `control character "\x7f"`},
		{base, "//admin", "//admin", ""},
		{base, `/\admin`, "//admin", ""},
		{base, "/a//../b", "/a/b", ""},
		{none, "/public/../admin", "/public/../admin", ""},
		{none, "/%61dmin", "/%61dmin", ""},
		{none, `/\admin`, "/%5Cadmin", ""}, // Go would send it so
		{none, "/%zz", "", "invalid percent-encoding"},
		{decode, "/a%2fb", "/a/b", ""},
		{decode, "/a%5Cb", "/a/b", ""},
		{decode, "/a/..%2fadmin", "/admin", ""},
		{decode, "/a%2f%2fb", "/a/b", ""},
		{decode, "/%252f", "/%252f", ""},
	} {
		got, problem := normalizePath(tt.in, tt.level)
		switch {
		case tt.problem == "" && (problem != "" || got != tt.want):
			t.Errorf("%v: normalizePath(%q) = %q, %q; want %q", tt.level, tt.in, got, problem, tt.want)
		case tt.problem != "" && !strings.Contains(problem, tt.problem):
			t.Errorf("%v: normalizePath(%q) = %q, problem %q; want a problem saying %q", tt.level, tt.in, got, problem, tt.problem)
		}
	}
}

func TestNormalizeTarget(t *testing.T) {
	for _, tt := range []struct{ target, wantPath, wantURI string }{
		{"/bench", "/bench", "/bench"},
		{"/a/../b?q=1", "/b", "/b?q=1"},
		{"/#/admin", "/", "/"},
		{"/admin#x?y", "/admin", "/admin"},
		{"/a?q=1#frag", "/a", "/a?q=1"},
		{"/a?#f", "/a", "/a?"},
		{"http://echo.test/%61dmin?q", "/admin", "/admin?q"},
		{"http://echo.test", "/", "/"},
		{"http://echo.test?q=1", "/", "/?q=1"},
		{"http:admin", "/", "/"}, // opaque: no path to send
		{"/a%2fb", "/a%2Fb", "/a%2Fb"},
		{"/ａ", "/%EF%BD%81", "/%EF%BD%81"},
	} {
		r := &http.Request{Method: http.MethodGet, RequestURI: tt.target}
		var err error
		if r.URL, err = url.ParseRequestURI(tt.target); err != nil {
			t.Fatalf("%s: %v", tt.target, err)
		}
		p, problem := normalizeTarget(r, PathMergeSlashes)
		if problem != "" || p != tt.wantPath || r.URL.RequestURI() != tt.wantURI {
			t.Errorf("%s: decided on %q (%q), sent as %q; want %q, sent as %q", tt.target, p, problem, r.URL.RequestURI(), tt.wantPath, tt.wantURI)
		}
	}
}

func TestParsePathNormalization(t *testing.T) {
	for _, name := range []string{"NONE", "BASE", "MERGE_SLASHES", "DECODE_AND_MERGE_SLASHES", "merge_slashes"} {
		p, err := ParsePathNormalization(name)
		if err != nil || p.String() != strings.ToUpper(name) {
			t.Errorf("ParsePathNormalization(%q) = %v, %v", name, p, err)
		}
	}
	if _, err := ParsePathNormalization("FULL"); err == nil || !strings.Contains(err.Error(), "want NONE, BASE") {
		t.Errorf("ParsePathNormalization(FULL): %v, want an error listing the levels", err)
	}
}
