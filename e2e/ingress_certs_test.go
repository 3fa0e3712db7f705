//go:build e2e && linux

package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"

	ipki "github.com/egressgw/egressgw/internal/pki"
)

// ingressCert is one certificate the ingress cases serve or present.
type ingressCert struct {
	name  string   // file base name and template key
	ca    int      // 1 or 2: which example.com CA signs it (secure-ingress's example_certs1 and example_certs2)
	names []string // the first is the CN
}

// ingressCerts are the ingress world's certificates. Templates under
// testdata/ingress/ read them as {{index .Ingress "NAME.crt"}} (base64 PEM,
// for a Secret's data), "NAME.key", "NAME.crt.path" and "NAME.key.path"
// (files); the CAs as "ca1.crt", "ca1.crt.path", "ca2.crt", "ca2.crt.path".
var ingressCerts = []ingressCert{
	{name: "httpbin1", ca: 1, names: []string{"httpbin.example.com"}},
	{name: "httpbin2", ca: 2, names: []string{"httpbin.example.com"}}, // the rotation's new certificate
	{name: "helloworld1", ca: 1, names: []string{"helloworld.example.com"}},
	{name: "client1", ca: 1, names: []string{"client.example.com"}}, // MUTUAL: the client's
	{name: "client2", ca: 2, names: []string{"client.example.com"}}, // MUTUAL: signed by a CA the gateway does not trust
	{name: "bookinfo", ca: 1, names: []string{"uk.bookinfo.com", "eu.bookinfo.com"}},
	{name: "bookinfo-wild", ca: 1, names: []string{"*.bookinfo.com"}},
	{name: "wild", ca: 1, names: []string{"*.wild.example.com"}},     // shared by two servers: 421
	{name: "default", ca: 1, names: []string{"default.example.com"}}, // the server with hosts "*": no SNI
	{name: "features", ca: 1, names: []string{"features.example.com"}},
}

// ingressPKI is the ingress world's CAs and certificates.
type ingressPKI struct {
	dir    string
	ca     [3]*ipki.CA // [1] and [2]
	caFile [3]string
	data   map[string]string // template data, see ingressCerts
}

func newIngressPKI(dir string) (*ingressPKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	b64 := base64.StdEncoding.EncodeToString
	p := &ingressPKI{dir: dir, data: map[string]string{}}
	for i := 1; i <= 2; i++ {
		ca, err := ipki.NewCA(fmt.Sprintf("example.com CA %d", i))
		if err != nil {
			return nil, err
		}
		p.ca[i] = ca
		p.caFile[i] = filepath.Join(dir, fmt.Sprintf("ca%d.crt", i))
		if err := os.WriteFile(p.caFile[i], ca.CertPEM, 0o644); err != nil {
			return nil, err
		}
		p.data[fmt.Sprintf("ca%d.crt", i)] = b64(ca.CertPEM)
		p.data[fmt.Sprintf("ca%d.crt.path", i)] = p.caFile[i]
	}
	for _, c := range ingressCerts {
		leaf, err := p.ca[c.ca].Issue(c.names[0], c.names...)
		if err != nil {
			return nil, err
		}
		cert, key := p.certFile(c.name), p.keyFile(c.name)
		if err := os.WriteFile(cert, leaf.CertPEM, 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(key, leaf.KeyPEM, 0o600); err != nil {
			return nil, err
		}
		p.data[c.name+".crt"], p.data[c.name+".key"] = b64(leaf.CertPEM), b64(leaf.KeyPEM)
		p.data[c.name+".crt.path"], p.data[c.name+".key.path"] = cert, key
	}
	return p, nil
}

func (p *ingressPKI) certFile(name string) string { return filepath.Join(p.dir, name+".crt") }
func (p *ingressPKI) keyFile(name string) string  { return filepath.Join(p.dir, name+".key") }
