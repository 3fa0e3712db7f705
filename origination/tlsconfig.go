package origination

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"slices"
)

// ClientConfig builds the crypto/tls client configuration for t. roots is
// used when t names no CA of its own (system roots plus --ca-file). The
// server name is left empty when t.SNI is empty, so that net/http fills in
// the host of each request.
func ClientConfig(t *TLS, roots *x509.CertPool) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: t.SNI,
		RootCAs:    roots,
	}
	if t.RootCAs != nil {
		cfg.RootCAs = t.RootCAs
	}
	if t.Mutual && t.Certificate != nil {
		cfg.Certificates = []tls.Certificate{*t.Certificate}
	}
	// Short RSA keys are refused on every connection, insecureSkipVerify
	// included (checkKeys).
	cfg.VerifyConnection = checkKeys
	switch {
	case t.InsecureSkipVerify:
		cfg.InsecureSkipVerify = true
	case len(t.SubjectAltNames) > 0:
		// Istio: when subjectAltNames are given, they replace host name
		// verification; the chain is still verified against the roots.
		cfg.InsecureSkipVerify = true
		pool, sans := cfg.RootCAs, t.SubjectAltNames
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			chains, err := verifySANs(cs, pool, sans)
			if err != nil {
				return err
			}
			cs.VerifiedChains = chains // the roots' keys are held to the minimum too
			return checkKeys(cs)
		}
	}
	return cfg
}

// SANError reports a peer certificate that carries none of the expected subject alt names.
type SANError struct {
	Want []string
	Got  []string
}

func (e *SANError) Error() string {
	return fmt.Sprintf("x509: certificate subject alt names %q match none of the DestinationRule's subjectAltNames %q", e.Got, e.Want)
}

// verifySANs verifies the peer's chain against roots and its names
// against want, returning the verified chains.
func verifySANs(cs tls.ConnectionState, roots *x509.CertPool, want []string) ([][]*x509.Certificate, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, errors.New("x509: upstream sent no certificate")
	}
	leaf := cs.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	if err != nil {
		return nil, &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: err}
	}
	got := certNames(leaf)
	for _, w := range want {
		if slices.Contains(got, w) || leaf.VerifyHostname(w) == nil {
			return chains, nil
		}
	}
	return nil, &tls.CertificateVerificationError{UnverifiedCertificates: cs.PeerCertificates, Err: &SANError{Want: want, Got: got}}
}

func certNames(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	for _, u := range c.URIs {
		names = append(names, (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, Opaque: u.Opaque}).String())
	}
	return names
}
