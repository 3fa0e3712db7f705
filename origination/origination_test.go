package origination

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/netguard"
)

func TestClassify(t *testing.T) {
	dialErr := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantCause  Cause
	}{
		{"unknown authority", &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}, 502, CauseTLSVerify},
		{"hostname", fmt.Errorf("wrapped: %w", x509.HostnameError{Host: "x"}), 502, CauseTLSVerify},
		{"refused", dialErr(os.NewSyscallError("connect", syscall.ECONNREFUSED)), 503, CauseRefused},
		{"dial timeout", dialErr(context.DeadlineExceeded), 503, CauseTimeout},
		{"unreachable", dialErr(os.NewSyscallError("connect", syscall.ENETUNREACH)), 503, CauseUnreachable},
		{"dns", &net.DNSError{Err: "no such host", Name: "x"}, 503, CauseDNS},
		{"resolver", fmt.Errorf("dial: %w", &ResolveError{Err: errors.New("resolve x via 10.0.0.2:53: NXDOMAIN")}), 503, CauseDNS},
		{"loop", fmt.Errorf("dial x: %w", ErrLoop), 503, CauseLoop},
		{"netguard", fmt.Errorf("dial x: %w", &netguard.DeniedError{Addr: netip.MustParseAddr("127.0.0.1"), Class: netguard.Loopback}), 403, CauseDenied},
		{"alert", errors.New("remote error: tls: certificate required"), 502, CauseTLSHandshake},
		{"eof", errors.New("EOF"), 502, CauseProtocol},
		{"handshake reset", &HandshakeError{Host: "x", Err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}}, 502, CauseTLSHandshake},
		{"handshake timeout", fmt.Errorf("dial: %w", &HandshakeError{Host: "x", Err: context.DeadlineExceeded}), 502, CauseTLSHandshake},
		{"handshake verify", &HandshakeError{Host: "x", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}, 502, CauseTLSVerify},
		{"weak key", &HandshakeError{Host: "x", Err: &tls.CertificateVerificationError{Err: &WeakKeyError{Host: "x", Bits: 1024, Leaf: true}}}, 502, CauseTLSVerify},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, cause := Classify(tt.err)
			if status != tt.wantStatus || cause != tt.wantCause {
				t.Errorf("Classify(%v) = %d, %s; want %d, %s", tt.err, status, cause, tt.wantStatus, tt.wantCause)
			}
		})
	}
}

// TestPoolOriginates checks verification modes against a real TLS server
// whose certificate names api.example.test only.
func TestPoolOriginates(t *testing.T) {
	ca, _ := pki.NewCA("ca")
	leaf, _ := ca.Issue("api.example.test", "api.example.test")
	client, _ := ca.Issue("client")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "-"
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "%s %s %s", r.TLS.ServerName, r.Proto, cn)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{leaf.TLS}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: ca.Pool()}
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	dial := dialTo(addr)
	tests := []struct {
		name    string
		tls     *TLS
		host    string
		want    string
		wantErr string
	}{
		{name: "simple, host as SNI", tls: &TLS{RootCAs: ca.Pool()}, host: "api.example.test", want: "api.example.test PROTO -"},
		{name: "explicit sni", tls: &TLS{RootCAs: ca.Pool(), SNI: "api.example.test"}, host: "other.example.test", want: "api.example.test PROTO -"},
		{name: "host mismatch", tls: &TLS{RootCAs: ca.Pool()}, host: "other.example.test", wantErr: "certificate is valid for api.example.test"},
		{name: "SAN accepted replaces host check", tls: &TLS{RootCAs: ca.Pool(), SubjectAltNames: []string{"api.example.test"}}, host: "other.example.test", want: "other.example.test PROTO -"},
		{name: "SAN rejected", tls: &TLS{RootCAs: ca.Pool(), SubjectAltNames: []string{"billing.example.test"}}, host: "api.example.test", wantErr: "match none"},
		{name: "system roots do not know the CA", tls: &TLS{}, host: "api.example.test", wantErr: "unknown authority"},
		{name: "insecureSkipVerify", tls: &TLS{InsecureSkipVerify: true}, host: "other.example.test", want: "other.example.test PROTO -"},
		{name: "mutual", tls: &TLS{RootCAs: ca.Pool(), Mutual: true, Certificate: &client.TLS}, host: "api.example.test", want: "api.example.test PROTO client"},
	}
	pool := NewPool(x509.NewCertPool())
	// Each case goes through the HTTP/2 transport and through the HTTP/1.1 pool.
	get := map[string]func(u Upstream, host string) (string, error){
		"HTTP/2.0": func(u Upstream, host string) (string, error) {
			u.HTTP2 = true
			req, _ := http.NewRequest(http.MethodGet, "https://"+host+"/", nil)
			resp, err := pool.Transport(u).RoundTrip(req)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		},
		"HTTP/1.1": func(u Upstream, host string) (string, error) {
			c, err := pool.H1(u).Get(context.Background(), host)
			if err != nil {
				return "", err
			}
			defer c.Close()
			fmt.Fprintf(c.W, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", host)
			if err := c.W.Flush(); err != nil {
				return "", err
			}
			resp, err := http.ReadResponse(c.R, nil)
			if err != nil {
				return "", err
			}
			b, err := io.ReadAll(resp.Body)
			return string(b), err
		},
	}
	for i, tt := range tests {
		for proto, get := range get {
			t.Run(tt.name+" "+proto, func(t *testing.T) {
				got, err := get(Upstream{Key: fmt.Sprint(i), TLS: tt.tls, Dial: dial, IdleTimeout: time.Minute}, tt.host)
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
					}
					if status, cause := Classify(err); status != 502 || cause != CauseTLSVerify {
						t.Errorf("Classify = %d %s, want 502 tls_verify", status, cause)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if want := strings.Replace(tt.want, "PROTO", proto, 1); got != want {
					t.Errorf("upstream saw %q, want %q", got, want)
				}
			})
		}
	}
	if tr1, tr2 := pool.Transport(Upstream{Key: "0"}), pool.Transport(Upstream{Key: "0"}); tr1 != tr2 {
		t.Error("same key gave two transports: pooled connections would not survive a reload")
	}
	pool.Retain(map[string]bool{"0": true})
	if len(pool.transports) != 1 {
		t.Errorf("after Retain: %d transports, want 1", len(pool.transports))
	}
}

func TestPoolH2C(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.Proto)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	dial := dialTo(srv.Listener.Addr().String())
	for _, tt := range []struct {
		h2c  bool
		want string
	}{{false, "HTTP/1.1"}, {true, "HTTP/2.0"}} {
		tr := NewPool(nil).Transport(Upstream{Key: "k", Dial: dial, HTTP2: tt.h2c})
		req, _ := http.NewRequest(http.MethodGet, "http://grpc.example.test/", nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("h2c=%v: %v", tt.h2c, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != tt.want {
			t.Errorf("h2c=%v: upstream saw %s, want %s", tt.h2c, b, tt.want)
		}
	}
}

// dialTo returns an Upstream.Dial that connects to addr whatever the host.
func dialTo(addr string) func(context.Context, string) (*net.TCPConn, error) {
	return func(ctx context.Context, _ string) (*net.TCPConn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return c.(*net.TCPConn), nil
	}
}
