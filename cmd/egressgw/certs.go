package main

import (
	"crypto/x509"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/egressgw/egressgw/route"
	"github.com/egressgw/egressgw/servercert"
)

// serverCerts gives the engine its server certificates: the Gateway
// servers that terminate TLS, from the route table, go to a servercert
// Manager (files, Secrets and ACME in one certmagic cache).
type serverCerts struct{ *servercert.Manager }

func (c serverCerts) Update(t *route.Table) error {
	var specs []servercert.Spec
	for _, l := range t.Listeners() {
		for _, s := range l.Servers {
			if s.TLS != nil && s.TLS.Terminates() {
				specs = append(specs, servercert.Spec{Side: l.Side, Port: l.Port, Server: s})
			}
		}
	}
	return c.Manager.Update(specs)
}

// newServerCerts builds the certificate manager the flags describe.
func newServerCerts(o *options, log *zap.Logger) (serverCerts, error) {
	cfg := servercert.Config{Log: log, Storage: o.acmeStorage}
	if o.acmeCA != "" {
		a := &servercert.ACME{CA: o.acmeCA, Email: o.acmeEmail}
		if o.acmeCARoot != "" {
			pem, err := os.ReadFile(o.acmeCARoot)
			if err != nil {
				return serverCerts{}, fmt.Errorf("--acme-ca-root: %w", err)
			}
			a.Roots = x509.NewCertPool()
			if !a.Roots.AppendCertsFromPEM(pem) {
				return serverCerts{}, fmt.Errorf("--acme-ca-root %s: no PEM certificate in it", o.acmeCARoot)
			}
		}
		cfg.ACME = a
	}
	m, err := servercert.New(cfg)
	if err != nil {
		return serverCerts{}, err
	}
	return serverCerts{m}, nil
}
