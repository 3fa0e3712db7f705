package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/egressgw/egressgw/internal/pki"
)

type demoCA struct {
	caFile string
	pool   *x509.CertPool
	cert   tls.Certificate
}

// newDemoCA makes a CA and a server certificate for names, writing the CA to dir.
func newDemoCA(dir string, names ...string) (*demoCA, error) {
	ca, err := pki.NewCA("egressgw demo CA")
	if err != nil {
		return nil, err
	}
	leaf, err := ca.Issue(names[0], names...)
	if err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		return nil, err
	}
	return &demoCA{caFile: caFile, pool: ca.Pool(), cert: leaf.TLS}, nil
}

// startDemoSite serves HTTPS on loopback and tells each client what it saw.
func startDemoSite(ca *demoCA) (net.Listener, error) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{ca.cert}, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "external server: %s %s Host=%s over TLS (SNI %q, %s)\n", r.Method, r.URL.Path, r.Host, r.TLS.ServerName, r.Proto)
	})}
	go func() { _ = srv.Serve(ln) }()
	return ln, nil
}

// startDemoDNS answers every A query under demo.test with 127.0.0.1.
func startDemoDNS() (*dns.Server, error) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		if len(r.Question) == 1 && r.Question[0].Qtype == dns.TypeA && dns.IsSubDomain("demo.test.", r.Question[0].Name) {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 30},
				A: net.IPv4(127, 0, 0, 1)})
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		return nil, fmt.Errorf("demo DNS server did not start")
	}
	return srv, nil
}

// startDemoHTTPBin serves a little of httpbin on loopback: /status/CODE
// answers CODE, anything else echoes the request.
func startDemoHTTPBin() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/")); err == nil && code >= 200 && code < 600 {
			w.WriteHeader(code)
			fmt.Fprintf(w, "httpbin: status %d for %s (X-Forwarded-For %s)\n", code, r.Host, r.Header.Get("X-Forwarded-For"))
			return
		}
		fmt.Fprintf(w, "httpbin: %s %s\n", r.Method, r.URL.Path)
	})}
	go func() { _ = srv.Serve(ln) }()
	return ln, nil
}
