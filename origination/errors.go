package origination

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/egressgw/egressgw/netguard"
)

// Cause is a class of upstream failure, used as a metric label.
type Cause string

const (
	CauseTLSVerify    Cause = "tls_verify"    // the upstream certificate did not verify
	CauseTLSHandshake Cause = "tls_handshake" // the handshake failed otherwise (alert, protocol)
	CauseRefused      Cause = "connect_refused"
	CauseTimeout      Cause = "connect_timeout"
	CauseDNS          Cause = "dns"
	CauseLoop         Cause = "loop"
	CauseUnreachable  Cause = "connect_error"
	CauseProtocol     Cause = "upstream_protocol" // the upstream broke off or answered garbage
	CauseDenied       Cause = "netguard"          // netguard refused the address a name resolved to (a refusal, not a failure)
)

// ResolveError marks a failure to resolve an upstream's name; a dialer
// wraps lookup errors in it so they are told apart from connect errors.
type ResolveError struct{ Err error }

func (e *ResolveError) Error() string { return e.Err.Error() }
func (e *ResolveError) Unwrap() error { return e.Err }

// HandshakeError is a TLS handshake with an upstream that failed, whatever
// the reason (an alert, a reset, a timeout, a certificate refused): it is
// classified as a handshake failure with its cause, not as the upstream
// breaking off a request.
type HandshakeError struct {
	Host string // the server name the handshake was for
	Err  error
}

func (e *HandshakeError) Error() string { return "tls handshake with " + e.Host + ": " + e.Err.Error() }
func (e *HandshakeError) Unwrap() error { return e.Err }

// ErrLoop is returned by a dialer that refuses to connect back to the gateway itself.
var ErrLoop = errors.New("the upstream address is the gateway itself (a request loop)")

// Classify maps an error from a round trip to the status the client gets
// and the failure class: 403 when netguard refused the upstream's address
// (a *netguard.DeniedError), 502 for certificate and protocol problems, 503
// for anything that prevented a connection (Istio's 503 UF/URX), 504 when
// the request's own deadline passed.
func Classify(err error) (status int, cause Cause) {
	var verr *tls.CertificateVerificationError
	var uerr x509.UnknownAuthorityError
	var herr x509.HostnameError
	var cerr x509.CertificateInvalidError
	var rerr tls.AlertError
	var dnsErr *net.DNSError
	var resErr *ResolveError
	var denied *netguard.DeniedError
	var hsErr *HandshakeError
	switch {
	case errors.As(err, &denied):
		return http.StatusForbidden, CauseDenied
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr):
		return http.StatusBadGateway, CauseTLSVerify
	case errors.As(err, &hsErr):
		return http.StatusBadGateway, CauseTLSHandshake
	case errors.Is(err, ErrLoop):
		return http.StatusServiceUnavailable, CauseLoop
	case errors.As(err, &resErr), errors.As(err, &dnsErr):
		return http.StatusServiceUnavailable, CauseDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return http.StatusServiceUnavailable, CauseRefused
	case isDialError(err) && isTimeout(err):
		return http.StatusServiceUnavailable, CauseTimeout
	case isDialError(err):
		return http.StatusServiceUnavailable, CauseUnreachable
	case errors.As(err, &rerr), strings.Contains(err.Error(), "tls: "):
		return http.StatusBadGateway, CauseTLSHandshake
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, CauseTimeout
	}
	return http.StatusBadGateway, CauseProtocol
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)
}
