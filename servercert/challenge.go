package servercert

import (
	"net"
	"net/http"
	"strings"
)

// challengePath is where ACME HTTP-01 validations ask (RFC 8555 8.3).
const challengePath = "/.well-known/acme-challenge/"

// HandleHTTPChallenge answers an ACME HTTP-01 validation request
// (GET /.well-known/acme-challenge/TOKEN) for a host being issued, and
// reports whether it did; any other request is left alone (false) without
// allocating, so the engine can call it first on every ingress port-80
// request.
func (m *Manager) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	if m.issuer == nil || r.Method != http.MethodGet || !strings.HasPrefix(r.URL.Path, challengePath) {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if _, ok := m.state.Load().acmeHosts[normalizeSNI(host)]; !ok {
		return false
	}
	return m.issuer.HandleHTTPChallenge(w, r)
}
