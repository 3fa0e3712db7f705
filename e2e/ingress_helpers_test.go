//go:build e2e && linux

package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// The ingress access-log keys the cases read. Issue 12: the access line
// gains direction (ingress/egress), the Gateway/VirtualService and the
// route that matched, in the snake_case of the other keys.
const (
	logDirection      = "direction"       // "ingress"
	logGateway        = "gateway"         // "namespace/name" of the Gateway whose server took the request
	logVirtualService = "virtual_service" // "namespace/name"
	logRoute          = "route"           // http[].name, or its field ("spec.http[0]") when unnamed
)

// startIngress runs an egressgw with --ingress-addr and the given config
// files (name -> content, see renderDocs) and flags, and waits for it.
func (tp *topology) startIngress(t *testing.T, name string, configs map[string]string, args ...string) *gateway {
	t.Helper()
	spec := gatewaySpec{
		name:    "ingress-" + name,
		mode:    "REGISTRY_ONLY",
		configs: configs,
		args:    append([]string{"--ingress-addr", ingressAddr}, args...),
	}
	return tp.startGatewaySpec(t, gatewayBinary(t, tp), spec)
}

// apply replaces (or adds) config file name with content, as `kubectl
// apply` replaces resources of the same names, and waits for the reload.
func (g *gateway) apply(t *testing.T, name, content string) {
	t.Helper()
	before := g.reloads(t, "success")
	g.putConfig(t, name, content)
	g.waitReloads(t, "success", before)
}

// configSet renders config files: each name in the config directory gets
// the testdata files (relative to testdata/) joined (renderDocs).
func (tp *topology) configSet(t *testing.T, files map[string][]string) map[string]string {
	t.Helper()
	out := make(map[string]string, len(files))
	for name, srcs := range files {
		out[name] = tp.renderDocs(t, srcs...)
	}
	return out
}

// outsideCurl runs curl in the outside namespace.
func (tp *topology) outsideCurl(args ...string) curlResult { return tp.curl(tp.ingress.out, args...) }

// ingressCurl runs curl from outside; the URL's host resolves to the
// ingress address (--resolve host:port:ingressaddr), as the tasks' curl
// --resolve and -HHost: do.
func (tp *topology) ingressCurl(rawURL string, args ...string) curlResult {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(fmt.Sprintf("ingressCurl %q: %v", rawURL, err))
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	full := []string{"--resolve", u.Hostname() + ":" + port + ":" + ingressAddr}
	full = append(full, args...)
	return tp.curl(tp.ingress.out, append(full, rawURL)...)
}

// ingressLine is what a case expects of the access-log line of one
// request or connection: the selectors pick the line (the newest that
// matches them all), the rest is checked. Empty fields are not used.
type ingressLine struct {
	// Selectors.
	direction string // "ingress" (the default) or "egress"
	msg       string // "request" (the default) or "connection" (TLS and TCP routes)
	host      string // the request's host (without port, any case)
	path      string // the request's path, matched without the query the log shows after it
	sni       string // a connection's SNI
	upstream  string // contained in the upstream value (a TCP route's backend address)

	// Expectations.
	status         int
	gateway        string // contained in the gateway value: "default/httpbin-gateway"
	virtualService string // contained in the virtual_service value
	route          string // contained in the route value
}

// selects reports whether rec is a line that want picks.
func (want ingressLine) selects(rec map[string]any) bool {
	str := func(k string) string { s, _ := rec[k].(string); return s }
	msg, dir := want.msg, want.direction
	if msg == "" {
		msg = "request"
	}
	if dir == "" {
		dir = "ingress"
	}
	host := str("host")
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return str("msg") == msg && str(logDirection) == dir &&
		(want.host == "" || strings.EqualFold(host, want.host)) &&
		(want.path == "" || strings.SplitN(str("path"), "?", 2)[0] == want.path) &&
		(want.sni == "" || strings.EqualFold(str("sni"), want.sni)) &&
		(want.upstream == "" || strings.Contains(str("upstream"), want.upstream))
}

// mismatch says how rec differs from want's expectations; "" if it does not.
func (want ingressLine) mismatch(rec map[string]any) string {
	var why []string
	if want.status != 0 && fmt.Sprint(rec["status"]) != fmt.Sprint(want.status) {
		why = append(why, fmt.Sprintf("status %v, want %d", rec["status"], want.status))
	}
	for _, f := range []struct{ key, want string }{
		{logGateway, want.gateway}, {logVirtualService, want.virtualService}, {logRoute, want.route},
	} {
		if f.want != "" && !strings.Contains(fmt.Sprint(rec[f.key]), f.want) {
			why = append(why, fmt.Sprintf("%s %q, want it to contain %q", f.key, rec[f.key], f.want))
		}
	}
	return strings.Join(why, "; ")
}

// wantIngressLog waits (bounded: access lines are flushed every second)
// for the access line want selects and checks it.
func wantIngressLog(t *testing.T, gw *gateway, want ingressLine) {
	t.Helper()
	var last map[string]any
	var why string
	err := poll(4*time.Second, 100*time.Millisecond, func() error {
		last = nil
		for _, line := range gw.proc.logLines(`"` + logDirection + `":`) {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && want.selects(rec) {
				last = rec
			}
		}
		if last == nil {
			return errors.New("no such line")
		}
		if why = want.mismatch(last); why != "" {
			return errors.New(why)
		}
		return nil
	})
	switch {
	case err == nil:
	case last == nil:
		t.Errorf("no access line for %+v; log:\n%s", want, tail(gw.proc.log(), 3000))
	default:
		t.Errorf("access line for %+v: %s\n%v", want, why, last)
	}
}

// wantHeader checks that curl -i/-D - output r has header name with a
// value containing value (header names compared without case).
func wantHeader(t *testing.T, r curlResult, name, value string) {
	t.Helper()
	if got, ok := header(r.stdout+"\n"+r.stderr, name); !ok || !strings.Contains(got, value) {
		t.Errorf("header %s: got %q (present %v), want it to contain %q\n%s", name, got, ok, value, r)
	}
}

// header finds "name: value" (curl -i in stdout, or "< name: value" in -v
// stderr) and returns the value of the last one.
func header(out, name string) (string, bool) {
	var val string
	var ok bool
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(strings.TrimPrefix(line, "< "))
		k, v, found := strings.Cut(line, ":")
		if found && strings.EqualFold(strings.TrimSpace(k), name) {
			val, ok = strings.TrimSpace(v), true
		}
	}
	return val, ok
}

// ingressHandshake does a TLS handshake from outside to the ingress
// address on port with SNI serverName ("" sends none), trusting roots, and
// returns the connection state.
func (tp *topology) ingressHandshake(port int, serverName string, roots *x509.CertPool, certs ...tls.Certificate) (tls.ConnectionState, error) {
	var st tls.ConnectionState
	err := inNetns(tp.ingress.out, func() error {
		d := &net.Dialer{Timeout: 3 * time.Second}
		cfg := &tls.Config{ServerName: serverName, RootCAs: roots, Certificates: certs, NextProtos: []string{"http/1.1"}}
		if serverName == "" {
			// No SNI: verify against the roots by hand, whatever name the leaf has.
			cfg.InsecureSkipVerify = true
			cfg.VerifyPeerCertificate = verifyChainOnly(roots)
		}
		c, err := tls.DialWithDialer(d, "tcp", net.JoinHostPort(ingressAddr, fmt.Sprint(port)), cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		// TLS 1.3: a refused client certificate shows on the first read.
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		var one [1]byte
		if _, err := c.Read(one[:]); err != nil && !isTimeout(err) {
			return err
		}
		st = c.ConnectionState()
		return nil
	})
	return st, err
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// verifyChainOnly verifies the peer's chain against roots without a name.
func verifyChainOnly(roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return fmt.Errorf("no certificate")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: roots})
		return err
	}
}

// sameCertificate reports whether leaf is the certificate in PEM file path.
func sameCertificate(leaf *x509.Certificate, path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	block, _ := pem.Decode(b)
	return block != nil && bytes.Equal(leaf.Raw, block.Bytes)
}

// httpbinHeaders decodes httpbin's /headers answer: the request headers it
// saw (names as httpbin writes them, e.g. "X-Forwarded-For"). Not JSON: a
// failure of t.
func httpbinHeaders(t *testing.T, r curlResult) map[string]string {
	t.Helper()
	var v struct {
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal([]byte(r.body), &v); err != nil {
		t.Errorf("httpbin /headers answer is not its JSON: %v\n%s", err, r)
	}
	return v.Headers
}

// rootsFrom is a pool of the PEM certificates in file path.
func rootsFrom(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	pool := rootsFromFile(path)
	if pool == nil {
		t.Fatalf("%s: no PEM certificate", path)
	}
	return pool
}

// rootsFromFile is a pool of the PEM certificates in file path; nil if it has none.
func rootsFromFile(path string) *x509.CertPool {
	b, _ := os.ReadFile(path)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil
	}
	return pool
}

// wantServedCertificate checks that a handshake from outside on port with
// SNI sni ("" for none) verifies against caFile and is served certFile.
func wantServedCertificate(t *testing.T, tp *topology, port int, sni, caFile, certFile string) {
	t.Helper()
	st, err := tp.ingressHandshake(port, sni, rootsFrom(t, caFile))
	if err != nil {
		t.Errorf("TLS handshake on %s:%d with SNI %q: %v", ingressAddr, port, sni, err)
		return
	}
	if leaf := st.PeerCertificates[0]; !sameCertificate(leaf, certFile) {
		t.Errorf("port %d SNI %q: got certificate subject %q DNS names %v, want %s", port, sni, leaf.Subject, leaf.DNSNames, certFile)
	}
}
