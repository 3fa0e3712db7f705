package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	networking "istio.io/api/networking/v1alpha3"

	"github.com/egressgw/egressgw/origination"
)

// buildTLS compiles one DestinationRule tls block (field is its path, src
// its short name for TLS.Source). It returns nil for DISABLE, unset and
// ISTIO_MUTUAL, and for blocks with problems (reported).
func (c *compiler) buildTLS(o *object, field, src string, t *networking.ClientTLSSettings) *origination.TLS {
	if t == nil {
		return nil
	}
	f, res := o.File, o.Resource()
	switch t.Mode {
	case networking.ClientTLSSettings_DISABLE:
		return nil
	case networking.ClientTLSSettings_ISTIO_MUTUAL:
		c.r.warn(f, res, field+".mode", "ISTIO_MUTUAL not applied: egressgw has no sidecar leg to secure; traffic is forwarded as the client sent it")
		return nil
	case networking.ClientTLSSettings_SIMPLE, networking.ClientTLSSettings_MUTUAL:
	default:
		c.r.problem(f, res, field+".mode", "%v is not supported", t.Mode)
		return nil
	}
	before := len(c.r.problems)
	mutual := t.Mode == networking.ClientTLSSettings_MUTUAL
	if t.CaCrl != "" {
		c.r.problem(f, res, field+".caCrl", "certificate revocation lists are not supported")
	}
	var caPEM, certPEM, keyPEM []byte
	caField, certField := field+".caCertificates", field+".clientCertificate"
	if t.CredentialName != "" {
		caField, certField = field+".credentialName", field+".credentialName"
		if t.ClientCertificate != "" || t.PrivateKey != "" || t.CaCertificates != "" {
			c.r.problem(f, res, field+".credentialName", "cannot be combined with clientCertificate, privateKey or caCertificates")
		}
		cr, ok := c.credential(o, field+".credentialName", t.CredentialName)
		if ok {
			caPEM = cr.ca
			if mutual {
				certPEM, keyPEM = cr.cert, cr.key
				if certPEM == nil || keyPEM == nil {
					c.r.problem(f, res, field+".credentialName", "Secret %s has no client certificate and key (keys tls.crt and tls.key, or cert and key), which MUTUAL needs", cr.name)
				}
			} else if caPEM == nil {
				c.r.problem(f, res, field+".credentialName", "Secret %s has no CA certificate (key ca.crt or cacert, or a Secret %s-cacert); with SIMPLE, credentialName only supplies the CA", cr.name, cr.name)
			}
		}
	} else {
		if t.CaCertificates != "" {
			caPEM = c.readFile(o, caField, t.CaCertificates)
		}
		switch {
		case mutual:
			if t.ClientCertificate == "" {
				c.r.problem(f, res, field+".clientCertificate", "MUTUAL needs a client certificate: set clientCertificate and privateKey, or credentialName")
			} else {
				certPEM = c.readFile(o, field+".clientCertificate", t.ClientCertificate)
			}
			if t.PrivateKey == "" {
				c.r.problem(f, res, field+".privateKey", "MUTUAL needs a private key: set clientCertificate and privateKey, or credentialName")
			} else {
				keyPEM = c.readFile(o, field+".privateKey", t.PrivateKey)
			}
		case t.ClientCertificate != "" || t.PrivateKey != "":
			c.r.warn(f, res, field, "clientCertificate and privateKey not applied: mode is SIMPLE")
		}
	}
	out := &origination.TLS{
		Mutual:             mutual,
		SNI:                strings.ToLower(t.Sni),
		SubjectAltNames:    t.SubjectAltNames,
		InsecureSkipVerify: t.InsecureSkipVerify.GetValue(),
		Source:             "DestinationRule " + o.Namespace + "/" + o.Name + " " + src,
	}
	if caPEM != nil {
		pool, err := parseCAs(caPEM)
		if err != nil {
			c.r.problem(f, res, caField, "%v", err)
		}
		out.RootCAs = pool
	}
	if certPEM != nil && keyPEM != nil {
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			c.r.problem(f, res, certField, "client certificate and key: %v", err)
		} else {
			out.Certificate = &cert
		}
	}
	if len(c.r.problems) > before {
		return nil
	}
	out.Fingerprint = fingerprint(t.Mode.String(), out.SNI, out.SubjectAltNames, out.InsecureSkipVerify, caPEM, certPEM, keyPEM)
	return out
}

// readFile reads a certificate file named by a DestinationRule; relative
// paths are taken from the directory of the YAML file.
func (c *compiler) readFile(o *object, field, path string) []byte {
	if !filepath.IsAbs(path) {
		path = filepath.Join(filepath.Dir(o.File), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		c.r.problem(o.File, o.Resource(), field, "%v", err)
		return nil
	}
	c.addFile(path)
	return b
}

// parseCAs parses every CERTIFICATE block of a PEM bundle.
func parseCAs(b []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for len(b) > 0 {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA certificate %d: %v", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM certificate found")
	}
	return pool, nil
}

// fingerprint hashes every input of an origination.TLS.
func fingerprint(mode, sni string, sans []string, skip bool, pems ...[]byte) string {
	h := sha256.New()
	field := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	field([]byte(mode))
	field([]byte(sni))
	field([]byte(strings.Join(sans, "\x00")))
	if skip {
		field([]byte{1})
	} else {
		field([]byte{0})
	}
	for _, p := range pems {
		field(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}
