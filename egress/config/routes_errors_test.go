package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRouteErrors(t *testing.T) {
	s, err := Load([]string{"testdata/errors/routes.yaml"}, Options{})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Load: snapshot %v, error %v; want *Error", s != nil, err)
	}
	const f = "testdata/errors/routes.yaml: "
	want := []string{
		"Gateway default/no-tls: spec.servers[0].tls: an HTTPS server needs tls (mode SIMPLE or MUTUAL to terminate, PASSTHROUGH to route by SNI)",
		"Gateway default/no-tls: spec.servers[1].tls.mode: ISTIO_MUTUAL needs the mesh's CA, which egressgw does not have (no sidecars): use SIMPLE or MUTUAL with a certificate",
		`Gateway default/no-tls: spec.servers[2].tls.cipherSuites[1]: unknown cipher suite "RC4-MD5" (use one of AES128-GCM-SHA256, AES128-SHA, AES256-GCM-SHA384, AES256-SHA, ECDHE-ECDSA-AES128-GCM-SHA256, ECDHE-ECDSA-AES128-SHA, ECDHE-ECDSA-AES256-GCM-SHA384, ECDHE-ECDSA-AES256-SHA, ECDHE-ECDSA-CHACHA20-POLY1305, ECDHE-RSA-AES128-GCM-SHA256, ECDHE-RSA-AES128-SHA, ECDHE-RSA-AES256-GCM-SHA384, ECDHE-RSA-AES256-SHA, ECDHE-RSA-CHACHA20-POLY1305, or Go's TLS_ECDHE_... names)`,
		"Gateway default/no-tls: spec.servers[3].tls: MUTUAL needs a server certificate: set credentialName, or serverCertificate and privateKey",
		"Gateway default/no-tls: spec.servers[3].tls.caCertificates: MUTUAL needs the CA that signs client certificates: set caCertificates, or credentialName with a Secret that has ca.crt",
		`Gateway default/no-tls: spec.servers[4].port.protocol: "UDP" is not supported (use HTTP, HTTP2, GRPC, GRPC-WEB, HTTPS, TLS, TCP, MONGO, MYSQL, REDIS or THRIFT)`,
		`VirtualService default/bad: spec.http[0].match[0].uri.regex: regex "/a[" does not compile: missing closing ]: ` + "`[`",
		"VirtualService default/bad: spec.http[1].route: weights add up to 90, not 100",
		`VirtualService default/bad: spec.http[2].retries.retryOn: unknown condition "sometimes" (use 5xx, cancelled, connect-failure, deadline-exceeded, envoy-ratelimited, gateway-error, http3-post-connect-failure, internal, refused-stream, reset, reset-before-request, resource-exhausted, retriable-4xx, retriable-headers, retriable-status-codes, unavailable, or an HTTP status code)`,
		"VirtualService default/bad: spec.http[3].delegate: delegate VirtualServices are not supported: put the routes in this VirtualService",
		"VirtualService default/bad: spec.http[4]: one of route, redirect or directResponse is required",
		"Gateway default/second: spec.servers[0]: IST0145 conflicting gateways: host same.example.com on ingress port 7443 is also served by Gateway default/first spec.servers[0] with different TLS settings (TLS PASSTHROUGH); one host and port can have one TLS configuration",
	}
	var got []string
	for _, p := range e.Problems {
		got = append(got, strings.TrimPrefix(p.String(), f))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
