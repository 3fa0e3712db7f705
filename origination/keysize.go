package origination

import (
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"fmt"
)

// MinRSABits is the smallest RSA key egressgw accepts in an upstream's
// certificate chain (NIST SP 800-131A; Go itself only refuses keys under
// 1024 bits). ECDSA and Ed25519 keys are not limited.
const MinRSABits = 2048

// WeakKeyError reports an upstream certificate whose RSA key is shorter
// than MinRSABits.
type WeakKeyError struct {
	Host    string // the server name sent (SNI), or "the upstream"
	Bits    int
	Subject string // the certificate's subject
	Leaf    bool   // the upstream's own certificate, not one of its chain
}

func (e *WeakKeyError) Error() string {
	if e.Leaf {
		return fmt.Sprintf("upstream certificate for %s has a %d-bit RSA key; egressgw requires at least %d bits", e.Host, e.Bits, MinRSABits)
	}
	return fmt.Sprintf("upstream certificate chain for %s has a %d-bit RSA key (%s); egressgw requires at least %d bits", e.Host, e.Bits, e.Subject, MinRSABits)
}

// checkKeys refuses a connection whose peer sent, or whose verified chain
// holds, a certificate with an RSA key under MinRSABits. It runs on every
// handshake, with or without insecureSkipVerify: a key that short can be
// factored, whatever the verification of the names.
func checkKeys(cs tls.ConnectionState) error {
	if err := weakKey(cs.ServerName, cs.PeerCertificates); err != nil {
		return err
	}
	for _, chain := range cs.VerifiedChains {
		if err := weakKey(cs.ServerName, chain); err != nil {
			return err
		}
	}
	return nil
}

// weakKey returns a WeakKeyError for the first certificate of certs (the
// leaf first) with a short RSA key.
func weakKey(host string, certs []*x509.Certificate) error {
	for i, c := range certs {
		k, ok := c.PublicKey.(*rsa.PublicKey)
		if !ok || k.N.BitLen() >= MinRSABits {
			continue
		}
		if host == "" {
			host = "the upstream"
		}
		return &tls.CertificateVerificationError{UnverifiedCertificates: certs,
			Err: &WeakKeyError{Host: host, Bits: k.N.BitLen(), Subject: c.Subject.String(), Leaf: i == 0}}
	}
	return nil
}
