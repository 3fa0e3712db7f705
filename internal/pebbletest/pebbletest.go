// Package pebbletest starts pebble, Let's Encrypt's ACME test server
// (Debian package pebble, installed by scripts/install-test-deps.sh), for
// the tests of servercert and of the e2e suite: its HTTPS API on a
// certificate of a throwaway CA, its validations sent to the ports a test
// chooses, and a DNS server of its own that resolves every name to one
// address. Without pebble installed, Start fails the test and says how to
// install it.
package pebbletest

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/egressgw/egressgw/internal/pki"
)

// Options says where pebble listens and validates.
type Options struct {
	// HTTPPort and TLSPort are the ports pebble connects to for HTTP-01
	// and TLS-ALPN-01 validations (on the address the host resolves to).
	// Zero: a port where nothing listens, so that challenge fails.
	HTTPPort, TLSPort int
	// Resolve is the address every name resolves to for validations, on
	// pebbletest's own DNS server (127.0.0.1 when nil).
	Resolve net.IP
	// DNSServer ("ip:port") is used instead of pebbletest's own DNS server.
	DNSServer string
	// ListenHost is the address of pebble's API and management interface
	// (127.0.0.1 when empty).
	ListenHost string
	// Command runs pebble under a prefix, such as ip netns exec NAME.
	Command []string
	// Env is added to pebble's environment (after PEBBLE_VA_NOSLEEP=1,
	// PEBBLE_VA_ALWAYS_VALID=0, PEBBLE_WFE_NONCEREJECT=0, PEBBLE_AUTHZREUSE=0).
	Env []string
}

// Pebble is a running pebble, stopped when its test ends.
type Pebble struct {
	Directory   string         // the ACME directory URL (https://HOST:PORT/dir)
	APIRoots    *x509.CertPool // trusts pebble's own API: the ACME client's roots
	APIRootsPEM []byte         // the same, PEM, for --acme-ca-root
	APIRootFile string         // the same, in a file
	mgmt        string         // https://HOST:PORT of the management interface
}

// startTries bounds the restarts when the API or management port picked
// was taken by someone else before pebble bound it.
const startTries = 3

// readyWait bounds the wait for pebble's directory to answer.
const readyWait = 20 * time.Second

// Start runs pebble for t and returns once its directory answers.
func Start(t testing.TB, o Options) *Pebble {
	t.Helper()
	bin, err := exec.LookPath("pebble")
	if err != nil {
		t.Fatalf("pebble (the ACME test server) is not installed: run scripts/install-test-deps.sh as root (Debian package pebble): %v", err)
	}
	if o.ListenHost == "" {
		o.ListenHost = "127.0.0.1"
	}
	if o.DNSServer == "" {
		ip := o.Resolve
		if ip == nil {
			ip = net.IPv4(127, 0, 0, 1)
		}
		o.DNSServer = startDNS(t, ip)
	}
	dir := t.TempDir()
	ca, err := pki.NewCA("pebbletest API root")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(o.ListenHost, o.ListenHost, "localhost")
	if err != nil {
		t.Fatal(err)
	}
	p := &Pebble{APIRoots: ca.Pool(), APIRootsPEM: ca.CertPEM, APIRootFile: filepath.Join(dir, "api-root.pem")}
	for _, f := range []struct {
		name string
		data []byte
	}{{"api-root.pem", ca.CertPEM}, {"api-cert.pem", leaf.CertPEM}, {"api-key.pem", leaf.KeyPEM}} {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var lastErr error
	for try := 1; try <= startTries; try++ {
		if lastErr = p.start(t, bin, dir, o, try); lastErr == nil {
			return p
		}
		t.Logf("pebbletest: start %d of %d: %v", try, startTries, lastErr)
	}
	t.Fatalf("pebbletest: pebble did not start: %v", lastErr)
	return nil
}

func (p *Pebble) start(t testing.TB, bin, dir string, o Options, try int) error {
	api, mgmt := freePort(t, o.ListenHost), freePort(t, o.ListenHost)
	httpPort, tlsPort := o.HTTPPort, o.TLSPort
	if httpPort == 0 {
		httpPort = freePort(t, "127.0.0.1")
	}
	if tlsPort == 0 {
		tlsPort = freePort(t, "127.0.0.1")
	}
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  net.JoinHostPort(o.ListenHost, strconv.Itoa(api)),
		"managementListenAddress":        net.JoinHostPort(o.ListenHost, strconv.Itoa(mgmt)),
		"certificate":                    filepath.Join(dir, "api-cert.pem"),
		"privateKey":                     filepath.Join(dir, "api-key.pem"),
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}}
	b, _ := json.Marshal(conf)
	confFile := filepath.Join(dir, fmt.Sprintf("pebble-%d.json", try))
	if err := os.WriteFile(confFile, b, 0o600); err != nil {
		return err
	}
	logFile := filepath.Join(dir, fmt.Sprintf("pebble-%d.log", try))
	out, err := os.Create(logFile)
	if err != nil {
		return err
	}
	args := append(append([]string{}, o.Command...), bin, "-config", confFile, "-dnsserver", o.DNSServer)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		return fmt.Errorf("run %s: %w", bin, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(exited)
	}()
	stop := func() {
		_ = cmd.Process.Kill()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	}
	p.Directory = "https://" + net.JoinHostPort(o.ListenHost, strconv.Itoa(api)) + "/dir"
	p.mgmt = "https://" + net.JoinHostPort(o.ListenHost, strconv.Itoa(mgmt))
	client := p.client()
	for deadline := time.Now().Add(readyWait); ; time.Sleep(50 * time.Millisecond) {
		select {
		case <-exited:
			return fmt.Errorf("pebble exited before answering: %s", tail(logFile))
		default:
		}
		if resp, err := client.Get(p.Directory); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("pebble's directory %s did not answer within %s: %s", p.Directory, readyWait, tail(logFile))
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("pebble's log:\n%s", tail(logFile))
		}
	})
	return nil
}

// IssuerRoots returns the roots of the certificates pebble issues (they
// change with every start), for clients of the servers it issued for.
func (p *Pebble) IssuerRoots(t testing.TB) *x509.CertPool {
	t.Helper()
	resp, err := p.client().Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatalf("pebbletest: issuer roots: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebbletest: issuer roots: %s %v", resp.Status, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		t.Fatalf("pebbletest: issuer roots: no PEM certificate in %q", b)
	}
	return pool
}

func (p *Pebble) client() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.APIRoots}}}
}

// freePort returns a TCP port that was free on host a moment ago.
func freePort(t testing.TB, host string) int {
	t.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tail is the end of pebble's log, for messages.
func tail(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(bytes.TrimSpace(b))
}

// startDNS serves, on a loopback UDP port, A answers of ip for every
// name (and empty AAAA answers), and returns its address.
func startDNS(t testing.TB, ip net.IP) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		for _, q := range r.Question {
			if q.Qtype == dns.TypeA && ip.To4() != nil {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 1}, A: ip.To4()})
			}
			if q.Qtype == dns.TypeAAAA && ip.To4() == nil {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 1}, AAAA: ip})
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("pebbletest: dns server did not start")
	}
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}
