package servercert

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/egressgw/egressgw/internal/pebbletest"
	"github.com/egressgw/egressgw/route"
)

// issueWait bounds the wait for an ACME certificate from pebble.
const issueWait = 60 * time.Second

// acmeTLS is a SIMPLE server without material: ACME.
var acmeTLS = &route.ServerTLS{Mode: route.TLSSimple, ACME: true, Source: "ACME", Fingerprint: "acme"}

// servePort80 serves, on ln, HandleHTTPChallenge first (while answer
// says so) and 404 otherwise, as the engine does on ingress port 80; it
// counts the challenges answered.
func servePort80(t *testing.T, ln net.Listener, m **Manager, answer *atomic.Bool) *atomic.Int32 {
	t.Helper()
	var answered atomic.Int32
	srv := &http.Server{ReadHeaderTimeout: wait, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if answer.Load() && (*m).HandleHTTPChallenge(w, r) {
			answered.Add(1)
			return
		}
		http.Error(w, "no route", http.StatusNotFound)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &answered
}

// waitIssued handshakes with addr for host until the certificate served
// is one pebble issued (bounded), and returns it.
func waitIssued(t *testing.T, addr, host string, p *pebbletest.Pebble) *tls.Conn {
	t.Helper()
	roots := p.IssuerRoots(t)
	var err error
	for deadline := time.Now().Add(issueWait); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var c *tls.Conn
		if c, err = dial(addr, &tls.Config{ServerName: host, RootCAs: roots}); err == nil {
			return c
		}
	}
	t.Fatalf("no certificate from pebble for %s within %s: last handshake: %v", host, issueWait, err)
	return nil
}

// TestACMEHTTP01: a server without material gets its certificate from the
// CA, validated over HTTP-01 answered by HandleHTTPChallenge on the port
// the CA validates on; handshakes before it fail and say why.
func TestACMEHTTP01(t *testing.T) {
	port80 := listen(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port80.Addr().(*net.TCPAddr).Port})
	var answer atomic.Bool
	answer.Store(true)
	var m *Manager
	answered := servePort80(t, port80, &m, &answer)
	m, logs := newManager(t, &ACME{CA: p.Directory, Roots: p.APIRoots, Email: "ops@example.com", DisableTLSALPN01: true,
		RetryMin: 100 * time.Millisecond, RetryMax: time.Second})
	addr := serveTLS(t, m, 443)
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", acmeTLS, "web.acme.test", "*.acme.test")}); err != nil {
		t.Fatal(err)
	}
	c := waitIssued(t, addr, "web.acme.test", p)
	defer c.Close()
	if answered.Load() == 0 {
		t.Errorf("no HTTP-01 challenge was answered by HandleHTTPChallenge")
	}
	wantLog(t, logs, "acme: certificate ready", map[string]string{"host": "web.acme.test", "ca": p.Directory})
	// The wildcard host gets no ACME certificate; the handshake says why.
	if got, err := servedCN(addr, "x.acme.test"); err == nil {
		t.Errorf("x.acme.test: got certificate %q, want a failed handshake", got)
	}
	wantLog(t, logs, "tls handshake failed: no certificate", map[string]string{"host": "x.acme.test", "error": "ACME issues for the server's exact hosts only"})
	// Without SNI the server's first exact host's certificate is served.
	if got, err := servedNames(addr, ""); err != nil || got != "web.acme.test" {
		t.Errorf("no SNI: got certificate for %q, error %v; want web.acme.test's", got, err)
	}

	infos := m.Certificates()
	if len(infos) != 1 {
		t.Fatalf("Certificates: got %+v, want one", infos)
	}
	ci := infos[0]
	if ci.Status != "serving" || ci.Source != "ACME "+p.Directory || len(ci.Hosts) != 1 || ci.Hosts[0] != "web.acme.test" ||
		!strings.Contains(ci.Issuer, "Pebble") || ci.NotAfter.Before(time.Now()) {
		t.Errorf("Certificates: got %+v, want web.acme.test serving, issued by Pebble, source ACME %s", ci, p.Directory)
	}

	// A request that is no challenge, or for a host not being issued, is
	// left to the routes.
	for _, tc := range []struct{ host, path string }{
		{"web.acme.test", "/index.html"},
		{"other.test", "/.well-known/acme-challenge/abc"},
	} {
		r, _ := http.NewRequest(http.MethodGet, "http://"+tc.host+tc.path, nil)
		if m.HandleHTTPChallenge(nil, r) {
			t.Errorf("HandleHTTPChallenge answered GET http://%s%s", tc.host, tc.path)
		}
	}
	r, _ := http.NewRequest(http.MethodGet, "http://web.acme.test/index.html", nil)
	if n := testing.AllocsPerRun(100, func() { m.HandleHTTPChallenge(nil, r) }); n != 0 {
		t.Errorf("HandleHTTPChallenge of a request that is no challenge: %v allocations, want 0", n)
	}

	// A host no longer in the specs leaves the cache (and its renewals).
	if err := m.Update(nil); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		if _, ok := m.managed("web.acme.test"); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("web.acme.test's certificate is still in the cache %s after its server left the specs", wait)
		}
	}
}

// TestACMEChallengePortsHeld: certmagic's own challenge listeners would
// take port 80 or 443 from the gateway; the port it is given is one the
// Manager holds, so it opens none.
func TestACMEChallengePortsHeld(t *testing.T) {
	m, _ := newManager(t, &ACME{CA: "https://127.0.0.1:1/dir"})
	for _, port := range []int{m.issuer.AltHTTPPort, m.issuer.AltTLSALPNPort} {
		addr := net.JoinHostPort(m.issuer.ListenHost, strconv.Itoa(port))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			t.Fatalf("certmagic's challenge address %s is free: certmagic would listen there (port 80 or 443 by default)", addr)
		}
		c, err := net.DialTimeout("tcp", addr, wait)
		if err != nil {
			t.Fatalf("certmagic's challenge address %s does not answer: certmagic would fail the challenge: %v", addr, err)
		}
		c.Close()
	}
}

// TestACMETLSALPN01: the certificate is validated over TLS-ALPN-01, which
// the listener's own TLSConfig answers.
func TestACMETLSALPN01(t *testing.T) {
	port443 := listen(t)
	p := pebbletest.Start(t, pebbletest.Options{TLSPort: port443.Addr().(*net.TCPAddr).Port})
	m, logs := newManager(t, &ACME{CA: p.Directory, Roots: p.APIRoots, DisableHTTP01: true,
		RetryMin: 100 * time.Millisecond, RetryMax: time.Second})
	addr := serveTLSOn(t, port443, m, 443)
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", acmeTLS, "alpn.acme.test")}); err != nil {
		t.Fatal(err)
	}
	c := waitIssued(t, addr, "alpn.acme.test", p)
	defer c.Close()
	if got := c.ConnectionState().NegotiatedProtocol; got != "" {
		t.Errorf("negotiated %q with a client offering no ALPN", got)
	}
	wantLog(t, logs, "served key authentication certificate", map[string]string{"server_name": "alpn.acme.test", "challenge": "tls-alpn-01"})
}

// TestACMEFailureRetried: a failed issuance is logged with the CA's error
// and retried after a backoff that doubles up to RetryMax; the handshakes
// meanwhile fail saying why; once the challenge is answered the next
// attempt issues.
func TestACMEFailureRetried(t *testing.T) {
	port80 := listen(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port80.Addr().(*net.TCPAddr).Port})
	var answer atomic.Bool // the challenge is not answered at first: 404
	var m *Manager
	servePort80(t, port80, &m, &answer)
	m, logs := newManager(t, &ACME{CA: p.Directory, Roots: p.APIRoots, DisableTLSALPN01: true,
		RetryMin: 50 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	addr := serveTLS(t, m, 443)
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", acmeTLS, "retry.acme.test")}); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct{ attempt, retryIn string }{{"1", "50ms"}, {"2", "100ms"}, {"3", "100ms"}} {
		wantLog(t, logs, "acme: issuance failed", map[string]string{"host": "retry.acme.test", "attempt": w.attempt,
			"retry_in": w.retryIn, "error": "404"})
	}
	if got, err := servedCN(addr, "retry.acme.test"); err == nil {
		t.Fatalf("before issuance: got certificate %q, want a failed handshake", got)
	}
	wantLog(t, logs, "tls handshake failed: no certificate", map[string]string{"host": "retry.acme.test", "error": "failed"})
	if ci := m.Certificates(); len(ci) != 1 || !strings.HasPrefix(ci[0].Status, "not served yet: attempt ") {
		t.Errorf("Certificates before issuance: got %+v, want a status naming the failed attempt", ci)
	}
	answer.Store(true)
	c := waitIssued(t, addr, "retry.acme.test", p)
	c.Close()
	wantLog(t, logs, "acme: certificate ready", map[string]string{"host": "retry.acme.test"})
}

// servedNames is servedCN for the certificate's first DNS name (an ACME
// certificate has no common name of its own).
func servedNames(addr, sni string) (string, error) {
	c, err := dial(addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer c.Close()
	if names := c.ConnectionState().PeerCertificates[0].DNSNames; len(names) > 0 {
		return names[0], nil
	}
	return "", nil
}

// TestACMENeverPrompts: certmagic's synchronous obtain counts as
// interactive and, without an email, would print a prompt on stdout and
// read stdin (where a daemon may block for ever); the Manager's issuer
// checks its names without asking.
func TestACMENeverPrompts(t *testing.T) {
	m, _ := newManager(t, &ACME{CA: "https://127.0.0.1:1/dir"})
	pc, ok := m.magic.Issuers[0].(certmagic.PreChecker)
	if !ok {
		t.Fatalf("the issuer %T has no PreCheck", m.magic.Issuers[0])
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	done := make(chan error, 1)
	go func() { done <- pc.PreCheck(context.Background(), []string{"web.acme.test"}, true) }()
	select {
	case err = <-done:
	case <-time.After(wait):
		err = errors.New("PreCheck did not return")
	}
	os.Stdout = stdout
	w.Close()
	printed, _ := io.ReadAll(r)
	if err != nil || len(printed) != 0 {
		t.Errorf("PreCheck: got error %v and %q on stdout, want neither", err, printed)
	}
}

// TestACMERestartUsesStorage: a Manager started again on the same storage
// serves the certificate issued before without a new issuance (the
// challenge is no longer answered, so one would fail).
func TestACMERestartUsesStorage(t *testing.T) {
	port80 := listen(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port80.Addr().(*net.TCPAddr).Port})
	var answer atomic.Bool
	answer.Store(true)
	var m *Manager
	servePort80(t, port80, &m, &answer)
	storage := t.TempDir()
	acme := &ACME{CA: p.Directory, Roots: p.APIRoots, DisableTLSALPN01: true, RetryMin: 100 * time.Millisecond, RetryMax: time.Second}
	first, _ := newManagerAt(t, storage, acme)
	m = first
	if err := first.Update([]Spec{spec(443, "spec.servers[0]", acmeTLS, "keep.acme.test")}); err != nil {
		t.Fatal(err)
	}
	waitIssued(t, serveTLS(t, first, 443), "keep.acme.test", p).Close()
	issued := first.Certificates()[0].SHA256
	first.Close()

	answer.Store(false)
	second, logs := newManagerAt(t, storage, acme)
	m = second
	if err := second.Update([]Spec{spec(443, "spec.servers[0]", acmeTLS, "keep.acme.test")}); err != nil {
		t.Fatal(err)
	}
	waitIssued(t, serveTLS(t, second, 443), "keep.acme.test", p).Close()
	if got := second.Certificates()[0].SHA256; got != issued {
		t.Errorf("after the restart: serving certificate %s, want the one issued before, %s", got, issued)
	}
	if n := logs.FilterMessage("acme: issuance failed").Len(); n != 0 {
		t.Errorf("after the restart: %d failed issuances, want none (the stored certificate serves)", n)
	}
}

// TestACMERenewal: certmagic's maintenance renews an issued certificate
// through the Manager's issuer (without prompting, the challenge answered
// by HandleHTTPChallenge), and handshakes get the renewed one.
func TestACMERenewal(t *testing.T) {
	port80 := listen(t)
	p := pebbletest.Start(t, pebbletest.Options{HTTPPort: port80.Addr().(*net.TCPAddr).Port})
	var answer atomic.Bool
	answer.Store(true)
	var m *Manager
	servePort80(t, port80, &m, &answer)
	m, logs := newManager(t, &ACME{CA: p.Directory, Roots: p.APIRoots, DisableTLSALPN01: true, RetryMin: 100 * time.Millisecond, RetryMax: time.Second})
	defer func() {
		if t.Failed() {
			for _, e := range logs.All() {
				t.Logf("log: %s %v", e.Message, e.ContextMap())
			}
		}
	}()
	if err := m.Update([]Spec{spec(443, "spec.servers[0]", acmeTLS, "renew.acme.test")}); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m, 443)
	c := waitIssued(t, addr, "renew.acme.test", p)
	first := c.ConnectionState().PeerCertificates[0].SerialNumber.String()
	c.Close()

	// Every certificate is due once the renewal window is its whole
	// lifetime (and ARI, whose window pebble sets far off, is not asked);
	// the maintenance pass runs now instead of in 10 minutes.
	m.magic.RenewalWindowRatio = 1
	m.magic.DisableARI = true
	if err := m.cache.RenewManagedCertificates(context.Background()); err != nil {
		t.Fatalf("RenewManagedCertificates: %v", err)
	}
	roots := p.IssuerRoots(t)
	const renewWait = refreshEvery + issueWait
	var got string
	for deadline := time.Now().Add(renewWait); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		c, err := dial(addr, &tls.Config{ServerName: "renew.acme.test", RootCAs: roots})
		if err != nil {
			t.Fatalf("handshake during renewal: %v", err)
		}
		got = c.ConnectionState().PeerCertificates[0].SerialNumber.String()
		c.Close()
		if got != first {
			return
		}
	}
	t.Fatalf("still serving certificate %s %s after renewal was due", got, renewWait)
}
