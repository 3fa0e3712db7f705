//go:build linux

package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// ingressCheck is one request a peer must answer as the others do before
// it is measured.
type ingressCheck struct {
	name      string
	url       string // on the peer's host h<host>
	h2        bool   // over HTTP/2 (ALPN), else HTTP/1.1
	wantCode  int
	wantRoute string // the x-route header; "" for none
}

// ingressChecks are a route of each kind the loads use, on both ports and
// both protocols, and a path no route matches.
func ingressChecks(peer string) []ingressCheck {
	plain := "http://" + ingressHost(peer, 3) + ingressPath(1) + "x"
	pick := "https://" + ingressHost(peer, ingPickHost) + ingressPath(ingPickPath) + "x"
	return []ingressCheck{
		{"HTTP route", plain, false, http.StatusOK, routeTag(3, 1)},
		{"HTTP, no route", "http://" + ingressHost(peer, 3) + "/none", false, http.StatusNotFound, ""},
		{"HTTPS over HTTP/1.1", pick, false, http.StatusOK, routeTag(ingPickHost, ingPickPath)},
		{"HTTPS over HTTP/2", pick, true, http.StatusOK, routeTag(ingPickHost, ingPickPath)},
	}
}

// checkIngress sends peer's checks, each to the peer's address whatever
// the name resolves to, and says what differs: plain for the checks on
// port 80, tlsErr for those on 443.
func checkIngress(peer string, pool *x509.CertPool) (plain, tlsErr error) {
	addr := ingressAddrs[peer]
	dial := func(ctx context.Context, network, hostport string) (net.Conn, error) {
		_, port, _ := net.SplitHostPort(hostport)
		var d net.Dialer
		return d.DialContext(ctx, network, net.JoinHostPort(addr, port))
	}
	for _, c := range ingressChecks(peer) {
		tr := &http.Transport{DialContext: dial, TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: c.h2, DisableKeepAlives: true}
		if !c.h2 {
			tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{} // HTTP/1.1 only
		}
		err := checkOne(&http.Client{Transport: tr, Timeout: 5 * time.Second}, c)
		tr.CloseIdleConnections()
		if err == nil {
			continue
		}
		err = fmt.Errorf("check %q, GET %s: %w", c.name, c.url, err)
		if strings.HasPrefix(c.url, "https:") {
			tlsErr = cmp.Or(tlsErr, err)
		} else {
			plain = cmp.Or(plain, err)
		}
	}
	return plain, tlsErr
}

func checkOne(client *http.Client, c ingressCheck) error {
	resp, err := client.Get(c.url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the body: %w", err)
	}
	if resp.StatusCode != c.wantCode {
		return fmt.Errorf("status %d, want %d (body %.200q)", resp.StatusCode, c.wantCode, body)
	}
	if got := resp.Header.Get("x-route"); got != c.wantRoute {
		return fmt.Errorf("x-route %q, want %q", got, c.wantRoute)
	}
	if c.wantCode == http.StatusOK && len(body) != ingressBodyLen {
		return fmt.Errorf("body of %d bytes, want the backend's %d", len(body), ingressBodyLen)
	}
	if resp.TLS != nil && resp.TLS.Version != tls.VersionTLS13 {
		return fmt.Errorf("TLS version %s, want TLS 1.3", tls.VersionName(resp.TLS.Version))
	}
	if wantMajor := map[bool]int{true: 2, false: 1}[c.h2]; resp.ProtoMajor != wantMajor {
		return fmt.Errorf("answered over %s, want HTTP/%d", resp.Proto, wantMajor)
	}
	return nil
}
