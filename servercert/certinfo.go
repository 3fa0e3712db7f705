package servercert

import (
	"cmp"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"slices"
	"time"
)

// CertInfo describes a certificate in use, for /config_dump. It holds
// nothing secret: no key, only what any client is shown.
type CertInfo struct {
	Side     string    `json:"side"`
	Port     uint32    `json:"port"`
	Server   string    `json:"server"`            // "Gateway istio-system/gw spec.servers[1]"
	Hosts    []string  `json:"hosts"`             // the names the certificate is for (ACME: the host it is issued for)
	Issuer   string    `json:"issuer,omitempty"`  // the issuer's distinguished name
	NotAfter time.Time `json:"notAfter,omitzero"` // expiry
	SHA256   string    `json:"sha256,omitempty"`  // of the leaf, hex: tells a rotated certificate from the one before
	Source   string    `json:"source"`            // "files /etc/certs/a.pem", "Secret istio-system/cred", "ACME https://ca/dir"
	Status   string    `json:"status"`            // "serving", or why not: "issuance under way", "attempt 2 failed: ...", ...
}

// Certificates lists every certificate of the current specs: one per file
// or Secret server, one per host of an ACME server, ordered by side, port
// and the specs' order.
func (m *Manager) Certificates() []CertInfo {
	st := m.state.Load()
	keys := make([]listenerKey, 0, len(st.listeners))
	for k := range st.listeners {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b listenerKey) int { return cmp.Or(cmp.Compare(a.side, b.side), cmp.Compare(a.port, b.port)) })
	var out []CertInfo
	for _, k := range keys {
		for _, s := range st.listeners[k].servers {
			base := CertInfo{Side: k.side.String(), Port: k.port, Server: s.spec.Server.Name()}
			if s.acmeHosts == nil {
				ci := base
				ci.Source = s.spec.Server.TLS.Source
				ci.Status = "serving"
				if s.unserved != "" {
					ci.Status = "not served: " + s.unserved
				} else if c, ok := m.cached(s); ok {
					describe(&ci, c.Leaf)
				} else {
					ci.Status = "not in the certificate cache"
				}
				out = append(out, ci)
				continue
			}
			for _, h := range s.acmeHosts {
				ci := base
				ci.Hosts = []string{h}
				switch {
				case m.issuer == nil:
					ci.Source = "ACME"
					ci.Status = "not served: no certificate material, and ACME is off (--acme-ca unset)"
				default:
					ci.Source = m.caName
					if c, ok := m.managed(h); ok {
						describe(&ci, c.Leaf)
						ci.Status = "serving"
					} else {
						ci.Status = "not served yet: " + m.issueStatus(h)
					}
				}
				out = append(out, ci)
			}
		}
	}
	return out
}

func describe(ci *CertInfo, leaf *x509.Certificate) {
	if leaf == nil {
		return
	}
	ci.Hosts = leafNames(leaf)
	ci.Issuer = leaf.Issuer.String()
	ci.NotAfter = leaf.NotAfter.UTC()
	sum := sha256.Sum256(leaf.Raw)
	ci.SHA256 = hex.EncodeToString(sum[:])
}

// leafNames is what a certificate is for: its DNS and IP SANs, or its
// common name when it has none.
func leafNames(leaf *x509.Certificate) []string {
	names := slices.Clone(leaf.DNSNames)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && leaf.Subject.CommonName != "" {
		names = []string{leaf.Subject.CommonName}
	}
	return names
}
