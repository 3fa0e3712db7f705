//go:build e2e && linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// ACME from pebble (Debian package pebble), which runs outside and
// validates against the ingress address: its validation DNS server (ours,
// in the outside namespace) answers every name with ingressAddr.
const (
	pebbleAPIPort  = 14000
	pebbleMgmtPort = 15000
	pebbleDNSPort  = 8053
	// A port of the ingress address where nothing listens: the challenge
	// pebble validates there fails, so only the other one can succeed.
	deadPort = 5999
)

// pebble is a running pebble, stopped when its test ends.
type pebble struct {
	directory string // the ACME directory URL
	rootFile  string // the root pebble issues under (its management API's /roots/0)
	proc      *proc
}

// startPebble runs pebble in the outside namespace with its HTTP-01
// validations sent to httpPort and TLS-ALPN-01 ones to tlsPort of the
// ingress address, and waits (bounded) for its directory.
func (tp *topology) startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	bin, err := lookTool("pebble")
	if err != nil {
		t.Fatalf("pebble (the ACME test server) is not installed: run scripts/install-test-deps.sh as root (Debian package pebble)")
	}
	dir := t.TempDir()
	tp.startValidationDNS(t)
	// pebble's API on a certificate of the suite's CA: --acme-ca-root is its file.
	certFile, keyFile, err := tp.pki.serverCert(false, outsideAddr)
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := json.Marshal(map[string]any{"pebble": map[string]any{
		"listenAddress":                  net.JoinHostPort(outsideAddr, fmt.Sprint(pebbleAPIPort)),
		"managementListenAddress":        net.JoinHostPort(outsideAddr, fmt.Sprint(pebbleMgmtPort)),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       httpPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
	}})
	confFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(confFile, conf, 0o600); err != nil {
		t.Fatal(err)
	}
	p := &pebble{directory: fmt.Sprintf("https://%s:%d/dir", outsideAddr, pebbleAPIPort), rootFile: filepath.Join(dir, "issuing-root.pem")}
	p.proc, err = startProc("pebble", filepath.Join(dir, "pebble.log"),
		"ip", "netns", "exec", tp.ingress.out, "env",
		"PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0",
		bin, "-config", confFile, "-dnsserver", net.JoinHostPort(outsideAddr, fmt.Sprint(pebbleDNSPort)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.proc.stop(syscall.SIGTERM, 5*time.Second)
		if t.Failed() {
			t.Logf("pebble log, last part:\n%s", tail(p.proc.log(), 4000))
		}
	})
	err = poll(20*time.Second, 200*time.Millisecond, func() error {
		if p.proc.exited() {
			return fmt.Errorf("pebble exited (%s): %s: %w", p.proc.exitStatus(), tail(p.proc.log(), 2000), errGiveUp)
		}
		// The gateway reaches pebble from the node.
		if r := tp.curl(tp.node, "--cacert", tp.pki.caFile, "--max-time", "3", p.directory); r.status != 200 {
			return fmt.Errorf("GET %s: %s", p.directory, r)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("pebble not ready: %v", err)
	}
	r := tp.curl(tp.node, "--cacert", tp.pki.caFile, "-o", p.rootFile, fmt.Sprintf("https://%s:%d/roots/0", outsideAddr, pebbleMgmtPort))
	if r.status != 200 {
		t.Fatalf("pebble's issuing root: %s", r)
	}
	return p
}

// startValidationDNS serves DNS in the outside namespace for pebble's
// validations: every A query is answered with the ingress address.
func (tp *topology) startValidationDNS(t *testing.T) {
	t.Helper()
	var pc net.PacketConn
	err := inNetns(tp.ingress.out, func() (err error) {
		pc, err = net.ListenPacket("udp", net.JoinHostPort(outsideAddr, fmt.Sprint(pebbleDNSPort)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, qq := range q.Question {
			if qq.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: qq.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5},
					A: net.ParseIP(ingressAddr).To4()})
			}
		}
		w.WriteMsg(m)
	})}
	done := make(chan struct{})
	go func() { defer close(done); srv.ActivateAndServe() }()
	t.Cleanup(func() {
		srv.Shutdown()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
}

// TestIngressACME has a Gateway server with tls.mode SIMPLE and no
// certificate get one from pebble, once over each challenge: pebble
// validates the other one on a dead port, so it cannot be the one used.
func TestIngressACME(t *testing.T) {
	tp := ingressEnv(t)
	cases := []struct {
		name, host        string
		httpPort, tlsPort int // where pebble validates each challenge
	}{
		{"http_01", "acme-http.example.com", 80, deadPort},
		{"tls_alpn_01", "acme-alpn.example.com", deadPort, 443},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pb := tp.startPebble(t, c.httpPort, c.tlsPort)
			gw := tp.startIngress(t, "acme-"+c.name, map[string]string{
				"services.yaml": tp.renderDocs(t, "ingress/services/backends.yaml", "ingress/routes/backends-subsets.yaml"),
				"acme.yaml":     strings.ReplaceAll(tp.renderDocs(t, "ingress/routes/acme.yaml"), "ACME_HOST", c.host),
			},
				"--acme-ca", pb.directory, "--acme-ca-root", tp.pki.caFile,
				"--acme-email", "e2e@example.com", "--acme-storage", filepath.Join(t.TempDir(), "acme"))
			// Issuance runs in the background; the handshake fails until then.
			var r curlResult
			err := poll(90*time.Second, time.Second, func() error {
				r = tp.ingressCurl("https://"+c.host+"/issued?id=acme-"+c.name, "--cacert", pb.rootFile)
				if r.status != 200 {
					return fmt.Errorf("exit %d status %d", r.code, r.status)
				}
				return nil
			})
			if err != nil {
				t.Fatalf("no certificate from pebble: %v\n%s\nlog:\n%s", err, r, tail(gw.proc.log(), 4000))
			}
			wantResponse(t, r, 200, "v1 host="+c.host)
			// The plain routes of port 80 keep working beside the challenges.
			r = tp.ingressCurl("http://" + c.host + "/plain?id=acme-plain")
			wantResponse(t, r, 200, "v1 host="+c.host)
			if c := gw.admin("/config_dump"); !strings.Contains(c.body, "ACME") || strings.Contains(c.body, "PRIVATE KEY") {
				t.Errorf("/config_dump: want the ACME certificate listed and no key material\n%s", tail(c.body, 3000))
			}
		})
	}
}
