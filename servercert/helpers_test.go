package servercert

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/route"
)

// wait bounds every wait of these tests.
const wait = 10 * time.Second

// newManager returns a Manager logging to an observer, closed with t.
func newManager(t *testing.T, acme *ACME) (*Manager, *observer.ObservedLogs) {
	t.Helper()
	return newManagerAt(t, t.TempDir(), acme)
}

// newManagerAt is newManager with its storage in dir.
func newManagerAt(t *testing.T, dir string, acme *ACME) (*Manager, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	m, err := New(Config{Log: zap.New(core), Storage: dir, ACME: acme})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(m.Close)
	return m, logs
}

// newCA returns a throwaway CA.
func newCA(t *testing.T, cn string) *pki.CA {
	t.Helper()
	ca, err := pki.NewCA(cn)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue returns a leaf of ca for cn and names.
func issue(t *testing.T, ca *pki.CA, cn string, names ...string) *pki.Leaf {
	t.Helper()
	l, err := ca.Issue(cn, names...)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// simple is SIMPLE TLS with leaf's material.
func simple(leaf *pki.Leaf, source string) *route.ServerTLS {
	return &route.ServerTLS{Mode: route.TLSSimple, CertPEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM, Source: source,
		Fingerprint: fmt.Sprintf("%x", leaf.TLS.Certificate[0][len(leaf.TLS.Certificate[0])-16:])}
}

// spec is an ingress server of gateway "ns/gw" at field on port.
func spec(port uint32, field string, t *route.ServerTLS, hosts ...string) Spec {
	return Spec{Side: route.Ingress, Port: port, Server: &route.Server{Gateway: "ns/gw", Field: field, Hosts: hosts, TLS: t}}
}

// serveTLS accepts on a loopback port with m's configuration for the
// ingress listener on port and echoes each line of each connection.
func serveTLS(t *testing.T, m *Manager, port uint32) string {
	t.Helper()
	return serveTLSOn(t, listen(t), m, port)
}

// listen returns a loopback listener closed with t.
func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// serveTLSOn is serveTLS on ln.
func serveTLSOn(t *testing.T, ln net.Listener, m *Manager, port uint32) string {
	t.Helper()
	tl := tls.NewListener(ln, m.TLSConfig(route.Ingress, port))
	go func() {
		for {
			c, err := tl.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(wait))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial handshakes with addr as cfg says and checks that a line comes back
// (with TLS 1.3 a refused client certificate shows only then).
func dial(addr string, cfg *tls.Config) (*tls.Conn, error) {
	raw, err := net.DialTimeout("tcp", addr, wait)
	if err != nil {
		return nil, err
	}
	c := tls.Client(raw, cfg)
	_ = c.SetDeadline(time.Now().Add(wait))
	if err := c.Handshake(); err != nil {
		c.Close()
		return nil, err
	}
	if err := roundTrip(c); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func roundTrip(c *tls.Conn) error {
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return fmt.Errorf("echo: got %q, want %q", line, "ping\n")
	}
	return nil
}

// servedCN handshakes with addr for sni (no SNI when empty) and returns
// the common name of the certificate served, or the handshake's error.
func servedCN(addr, sni string) (string, error) {
	c, err := dial(addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// isUnrecognizedName says whether err is the unrecognized_name alert.
func isUnrecognizedName(err error) bool {
	var ae tls.AlertError
	return err != nil && (errors.As(err, &ae) && ae == 112 || strings.Contains(err.Error(), "unrecognized name"))
}

// wantLog waits (bounded) for a log line with msg whose fields contain
// each of want (key: substring of the value).
func wantLog(t *testing.T, logs *observer.ObservedLogs, msg string, want map[string]string) {
	t.Helper()
	var seen []string
	for deadline := time.Now().Add(wait); ; time.Sleep(10 * time.Millisecond) {
		seen = seen[:0]
		for _, e := range logs.FilterMessage(msg).All() {
			f := e.ContextMap()
			ok := true
			for k, v := range want {
				if !strings.Contains(fmt.Sprint(f[k]), v) {
					ok = false
				}
			}
			if ok {
				return
			}
			seen = append(seen, fmt.Sprint(f))
		}
		if time.Now().After(deadline) {
			break
		}
	}
	t.Errorf("no %q log line with %v; got %v", msg, want, seen)
}

func newCAB() (*pki.CA, error) { return pki.NewCA("bench ca") }
