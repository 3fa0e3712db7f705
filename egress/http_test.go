package egress

import "testing"

func TestRequestHostAndNormalizePath(t *testing.T) {
	hosts := map[string]string{
		"api.example.test": "api.example.test", "API.example.test:8080": "api.example.test",
		"api.example.test.": "api.example.test", "[::1]:80": "::1", "10.0.0.1:80": "10.0.0.1", "": "",
	}
	for in, want := range hosts {
		if got := requestHost(in); got != want {
			t.Errorf("requestHost(%q) = %q, want %q", in, got, want)
		}
	}
	paths := map[string]string{
		"/a/b": "/a/b", "/public/../admin": "/admin", "//admin": "/admin", "/a/./b/": "/a/b/", "": "/", "/": "/",
	}
	for in, want := range paths {
		if got, _ := normalizePath(in, PathMergeSlashes); got != want {
			t.Errorf("normalizePath(%q) = %q, want %q", in, got, want)
		}
	}
}
