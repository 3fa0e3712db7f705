//go:build e2e && linux

package e2e

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestCanonical runs egressgw (REGISTRY_ONLY, default --path-normalization)
// and sends it, from the pod over raw sockets, the Host and path forms of
// the project's issue 11: what the DENY rule on api.example.test's /admin
// (testdata/config/api-example.yaml) sees is what nginx gets, a form that
// is another path reaches nginx as that path, and a malformed Host or path
// is refused with 400 naming the problem.
func TestCanonical(t *testing.T) {
	tp := env(t)
	gw := tp.startGateway(t, gatewayBinary(t, tp), "REGISTRY_ONLY")
	mark := tp.nginxMark(t)
	tests := []struct {
		name, host, target string
		status             int
		want               string // in the body: nginx's answer, or the refusal
		nginx              string // the request line nginx must have logged; "" for none
	}{
		{"host_upper_trailing_dot", "API.EXAMPLE.TEST.", "/canon?id=canon-host", 200, "api.example.test sni=api.example.test", "GET /canon?id=canon-host HTTP/1.1"},
		{"host_port_80", "api.example.test:80", "/canon?id=canon-port", 200, "api.example.test sni=api.example.test", "GET /canon?id=canon-port HTTP/1.1"},
		{"host_empty_label", "api.example.test..", "/canon?id=canon-bad-host", 400, "invalid Host header: host \"api.example.test..\" has an empty label", ""},
		{"host_bad_port", "api.example.test:99999", "/canon?id=canon-bad-port", 400, "out of range", ""},
		{"backslash", "api.example.test", `/\admin?id=canon-bs`, 403, "AuthorizationPolicy default/deny-admin", ""},
		{"fragment_admin", "api.example.test", "/admin#x", 403, "AuthorizationPolicy default/deny-admin", ""},
		{"unreserved_escape", "api.example.test", "/%61dmin?id=canon-pct", 403, "AuthorizationPolicy default/deny-admin", ""},
		{"merged_slashes", "api.example.test", "//admin?id=canon-slashes", 403, "AuthorizationPolicy default/deny-admin", ""},
		{"fragment_dropped", "api.example.test", "/canon?id=canon-frag#/admin", 200, "uri=/canon?id=canon-frag client=", "GET /canon?id=canon-frag HTTP/1.1"},
		{"double_escape", "api.example.test", "/%2561dmin?id=canon-double", 200, "uri=/%2561dmin?id=canon-double", "GET /%2561dmin?id=canon-double HTTP/1.1"},
		{"semicolon", "api.example.test", "/..;/admin?id=canon-semi", 200, "uri=/..;/admin?id=canon-semi", "GET /..;/admin?id=canon-semi HTTP/1.1"},
		{"upper_case", "api.example.test", "/ADMIN?id=canon-case", 200, "uri=/ADMIN?id=canon-case", "GET /ADMIN?id=canon-case HTTP/1.1"},
		{"fullwidth", "api.example.test", "/ａｄｍｉｎ?id=canon-wide", 200, "uri=/%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E?id=canon-wide", "GET /%EF%BD%81%EF%BD%84%EF%BD%8D%EF%BD%89%EF%BD%8E?id=canon-wide HTTP/1.1"},
		{"invalid_escape", "api.example.test", "/%zz?id=canon-zz", 400, "invalid URL escape", ""},
	}
	if !fastPaths() {
		// net/http's server refuses the invalid escape itself, before egressgw's handler, with its own body.
		tests[len(tests)-1].want = "Bad Request"
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, err := rawHTTP(tp, "GET "+tt.target+" HTTP/1.1\r\nHost: "+tt.host+"\r\nConnection: close\r\n\r\n")
			if err != nil {
				t.Fatalf("GET %s (Host %s): %v", tt.target, tt.host, err)
			}
			if status != tt.status || !strings.Contains(body, tt.want) {
				t.Fatalf("GET %s (Host %s): %d %q, want %d and a body containing %q", tt.target, tt.host, status, body, tt.status, tt.want)
			}
			if tt.nginx != "" {
				if e := tp.nginxSaw(t, tt.nginx); e.Host != "api.example.test" {
					t.Errorf("nginx saw host %q, want api.example.test", e.Host)
				}
			}
		})
	}
	tp.podCurl("http://api.example.test/canon?id=canon-sentinel")
	tp.nginxSaw(t, "id=canon-sentinel")
	tp.nginxNever(t, mark, "a request for /admin or a refused one", func(e nginxEntry) bool {
		return strings.HasPrefix(e.Request, "GET /admin") || strings.Contains(e.Request, "id=canon-bad") ||
			strings.Contains(e.Request, "id=canon-bs") || strings.Contains(e.Request, "id=canon-zz")
	})
	gw.requireRunning(t)
}

// rawHTTP sends request as it is from the pod to the gateway's port 80 and
// reads the response.
func rawHTTP(tp *topology, request string) (status int, body string, err error) {
	err = inNetns(tp.pod, func() error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(egressAddr, "80"), 3*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, request); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		status, body = resp.StatusCode, string(b)
		return err
	})
	return status, body, err
}
