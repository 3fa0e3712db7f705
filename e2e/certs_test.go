//go:build e2e && linux

package e2e

import (
	"os"
	"path/filepath"

	ipki "github.com/egressgw/egressgw/internal/pki"
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

	ca, untrusted *ipki.CA
}

func newPKI(dir string) (*pki, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	p := &pki{dir: dir}
	var err error
	if p.ca, err = ipki.NewCA(caName); err != nil {
		return nil, err
	}
	if p.untrusted, err = ipki.NewCA(untrustedCAName); err != nil {
		return nil, err
	}
	p.caPEM = p.ca.CertPEM
	p.caFile = filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(p.caFile, p.caPEM, 0o644); err != nil {
		return nil, err
	}
	client, err := p.ca.Issue(clientCN)
	if err != nil {
		return nil, err
	}
	p.clientCertPEM, p.clientKeyPEM = client.CertPEM, client.KeyPEM
	p.clientCert, p.clientKey, err = p.write("client", client)
	return p, err
}

// serverCert issues a server certificate for names (the first is the CN)
// from the trusted CA, or from the untrusted one, and returns the file paths.
func (p *pki) serverCert(untrusted bool, names ...string) (certFile, keyFile string, err error) {
	ca := p.ca
	if untrusted {
		ca = p.untrusted
	}
	leaf, err := ca.Issue(names[0], names...)
	if err != nil {
		return "", "", err
	}
	return p.write(names[0], leaf)
}

func (p *pki) write(base string, leaf *ipki.Leaf) (string, string, error) {
	certFile := filepath.Join(p.dir, base+".crt")
	keyFile := filepath.Join(p.dir, base+".key")
	if err := os.WriteFile(certFile, leaf.CertPEM, 0o644); err != nil {
		return "", "", err
	}
	return certFile, keyFile, os.WriteFile(keyFile, leaf.KeyPEM, 0o600)
}
