package origination

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/egressgw/egressgw/internal/faultserver"
)

// testCert is a certificate with its key, made for one test.
type testCert struct {
	cert *x509.Certificate
	der  []byte
	key  crypto.Signer
}

var testSerial int64

// newTestCert makes a certificate for cn with key, signed by parent (self-signed when nil).
func newTestCert(t *testing.T, cn string, key crypto.Signer, parent *testCert, isCA bool, names ...string) *testCert {
	t.Helper()
	testSerial++
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(testSerial), Subject: pkix.Name{CommonName: cn},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), DNSNames: names,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
		tmpl.ExtKeyUsage = nil
	}
	signer, parentCert := key, tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{cert: c, der: der, key: key}
}

func rsaKey(t *testing.T, bits int) crypto.Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ecKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestWeakRSAKeyRefused serves chains with RSA keys of each size to the
// HTTP/1.1 pool, the HTTP/2 pool and the transport: a key under 2048 bits,
// in the leaf or in the chain, is refused whatever the verification mode.
func TestWeakRSAKeyRefused(t *testing.T) {
	const host = "api.x.test"
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	root := newTestCert(t, "test root", ecKey(t), nil, true)
	rsa1024, rsa2048 := rsaKey(t, 1024), rsaKey(t, 2048)
	weakInter := newTestCert(t, "weak intermediate", rsa1024, root, true)
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	weakRoot := newTestCert(t, "weak root", rsa1024, nil, true)
	weakRoots := x509.NewCertPool()
	weakRoots.AddCert(weakRoot.cert)

	leafMsg := "upstream certificate for api.x.test has a 1024-bit RSA key; egressgw requires at least 2048 bits"
	chainMsg := "upstream certificate chain for api.x.test has a 1024-bit RSA key (CN=weak intermediate)"
	tests := []struct {
		name    string
		chain   []*testCert // leaf first, as the server sends it
		tls     TLS
		wantErr string
	}{
		{name: "RSA 1024 leaf", chain: []*testCert{newTestCert(t, host, rsa1024, root, false, host)}, tls: TLS{RootCAs: roots}, wantErr: leafMsg},
		{name: "RSA 1024 leaf, insecureSkipVerify", chain: []*testCert{newTestCert(t, host, rsa1024, root, false, host)},
			tls: TLS{InsecureSkipVerify: true}, wantErr: leafMsg},
		{name: "RSA 1024 leaf, subjectAltNames", chain: []*testCert{newTestCert(t, host, rsa1024, root, false, host)},
			tls: TLS{RootCAs: roots, SubjectAltNames: []string{host}}, wantErr: leafMsg},
		{name: "RSA 1024 leaf, mutual", chain: []*testCert{newTestCert(t, host, rsa1024, root, false, host)},
			tls: TLS{RootCAs: roots, Mutual: true}, wantErr: leafMsg},
		{name: "RSA 1024 intermediate", chain: []*testCert{newTestCert(t, host, ecKey(t), weakInter, false, host), weakInter},
			tls: TLS{RootCAs: roots}, wantErr: chainMsg},
		{name: "RSA 1024 intermediate, insecureSkipVerify", chain: []*testCert{newTestCert(t, host, ecKey(t), weakInter, false, host), weakInter},
			tls: TLS{InsecureSkipVerify: true}, wantErr: chainMsg},
		{name: "RSA 1024 root, subjectAltNames", chain: []*testCert{newTestCert(t, host, ecKey(t), weakRoot, false, host)},
			tls: TLS{RootCAs: weakRoots, SubjectAltNames: []string{host}}, wantErr: "(CN=weak root)"},
		{name: "RSA 1024 root", chain: []*testCert{newTestCert(t, host, ecKey(t), weakRoot, false, host)},
			tls: TLS{RootCAs: weakRoots}, wantErr: "(CN=weak root)"},
		{name: "RSA 2048 leaf", chain: []*testCert{newTestCert(t, host, rsa2048, root, false, host)}, tls: TLS{RootCAs: roots}},
		{name: "ECDSA leaf", chain: []*testCert{newTestCert(t, host, ecKey(t), root, false, host)}, tls: TLS{RootCAs: roots}},
		{name: "Ed25519 leaf", chain: []*testCert{newTestCert(t, host, edPriv, root, false, host)}, tls: TLS{RootCAs: roots}},
	}
	for i, tt := range tests {
		cert := tls.Certificate{PrivateKey: tt.chain[0].key, Leaf: tt.chain[0].cert}
		for _, c := range tt.chain {
			cert.Certificate = append(cert.Certificate, c.der)
		}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") }))
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		pool := NewPool(x509.NewCertPool())
		t.Cleanup(pool.CloseIdle)
		u := Upstream{Key: fmt.Sprint(i), TLS: &tt.tls, Dial: dialTo(srv.Listener.Addr().String()), IdleTimeout: time.Minute}
		for proto, get := range map[string]func() error{
			"HTTP/1.1 pool": func() error {
				c, err := pool.H1(u).Get(context.Background(), host)
				if err == nil {
					c.Close()
				}
				return err
			},
			"HTTP/2 pool": func() error {
				u := u
				u.HTTP2 = true
				u.Key += "h2"
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := pool.H2(u).Get(ctx, host) // the connection is closed with the pool
				return err
			},
			"transport": func() error {
				req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/", nil)
				resp, err := pool.Transport(u).RoundTrip(req)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				return err
			},
		} {
			t.Run(tt.name+" "+proto, func(t *testing.T) {
				err := get()
				if tt.wantErr == "" {
					if err != nil {
						t.Fatalf("got %v, want a connection", err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error with %q", err, tt.wantErr)
				}
				if status, cause := Classify(err); status != http.StatusBadGateway || cause != CauseTLSVerify {
					t.Errorf("Classify = %d %s, want 502 %s", status, cause, CauseTLSVerify)
				}
			})
		}
	}
}

// TestHandshakeResetIsHandshakeFailure: an upstream that resets the
// connection during the handshake is a TLS handshake failure (with the
// reset as its cause), not an upstream that broke off a request.
func TestHandshakeResetIsHandshakeFailure(t *testing.T) {
	addr := faultserver.ResetAfterHello(t)
	pool := NewPool(x509.NewCertPool())
	u := Upstream{Key: "reset", TLS: &TLS{InsecureSkipVerify: true}, Dial: dialTo(addr), IdleTimeout: time.Minute}
	for _, tt := range []struct {
		name  string
		http2 bool
	}{{"HTTP/1.1 pool", false}, {"HTTP/2 pool", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var err error
			if tt.http2 {
				u := u
				u.HTTP2, u.Key = true, "reset-h2"
				_, err = pool.H2(u).Get(ctx, "api.x.test")
			} else {
				var c *H1Conn
				if c, err = pool.H1(u).Get(ctx, "api.x.test"); err == nil {
					c.Close()
				}
			}
			if err == nil {
				t.Fatal("handshake succeeded against a server that resets it")
			}
			if want := "tls handshake with api.x.test: "; !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "reset") {
				t.Errorf("err = %v, want %q and the reset", err, want)
			}
			if status, cause := Classify(err); status != http.StatusBadGateway || cause != CauseTLSHandshake {
				t.Errorf("Classify(%v) = %d %s, want 502 %s", err, status, cause, CauseTLSHandshake)
			}
		})
	}
}
