//go:build e2e

package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

const (
	caName          = "egressgw e2e CA"
	untrustedCAName = "egressgw e2e untrusted CA"
	clientCN        = "egressgw-e2e-client"
)

// pki is the suite's certificates, as PEM files under dir.
type pki struct {
	dir           string
	caFile        string // the CA every site but untrusted.example.test uses; egressgw's --ca-file
	caPEM         []byte
	clientCert    string // client certificate for mutual TLS origination, CN=clientCN
	clientKey     string
	clientCertPEM []byte
	clientKeyPEM  []byte

	ca, untrusted *authority
}

type authority struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{dir: dir}
	var err error
	if p.ca, err = newAuthority(caName); err != nil {
		return nil, err
	}
	if p.untrusted, err = newAuthority(untrustedCAName); err != nil {
		return nil, err
	}
	p.caPEM = pemCert(p.ca.cert.Raw)
	p.caFile = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(p.caFile, p.caPEM, 0o644); err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := p.ca.issue(clientCN, nil, x509.ExtKeyUsageClientAuth)
	if err != nil {
		return nil, err
	}
	p.clientCertPEM, p.clientKeyPEM = certPEM, keyPEM
	p.clientCert, p.clientKey, err = p.write("client", certPEM, keyPEM)
	return p, err
}

// serverCert issues a server certificate for names (the first is the CN)
// from the trusted CA, or from the untrusted one, and returns the file paths.
func (p *pki) serverCert(untrusted bool, names ...string) (certFile, keyFile string, err error) {
	ca := p.ca
	if untrusted {
		ca = p.untrusted
	}
	certPEM, keyPEM, err := ca.issue(names[0], names, x509.ExtKeyUsageServerAuth)
	if err != nil {
		return "", "", err
	}
	return p.write(names[0], certPEM, keyPEM)
}

func (p *pki) write(base string, certPEM, keyPEM []byte) (string, string, error) {
	certFile := filepath.Join(p.dir, base+".crt")
	keyFile := filepath.Join(p.dir, base+".key")
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, keyPEM, 0o600)
}

func newAuthority(cn string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"egressgw e2e"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("CA %q: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	return &authority{cert: cert, key: key}, err
}

func (a *authority) issue(cn string, dnsNames []string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"egressgw e2e"}},
		DNSNames:     dnsNames,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, &key.PublicKey, a.key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate %q: %w", cn, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemCert(der), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), nil
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
