package servercert

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/caddyserver/certmagic"

	"github.com/egressgw/egressgw/route"
)

// Spec is one Gateway server that terminates TLS on a listener.
type Spec struct {
	Side   route.Side
	Port   uint32
	Server *route.Server
}

// server is one provisioned Spec. Immutable.
type server struct {
	key  listenerKey
	spec Spec
	tls  *tls.Config // the server's own configuration, returned by GetConfigForClient

	// File or Secret material, cached in certmagic as an unmanaged certificate.
	hash   string // certmagic's hash of the chain: the cache's key
	lookup string // a name the cache indexes it under
	leaf   *x509.Certificate

	// unserved is why a server naming material that was not found (a
	// credentialName Secret) fails its handshakes; warned is set once that
	// is logged.
	unserved string
	warned   atomic.Bool

	// ACME: the exact hosts certificates are issued for, in order; the
	// first one answers a ClientHello without SNI.
	acmeHosts []string

	// The certificate last found in the cache: for file or Secret material
	// in recent, per ACME host in acmeRecent (a map fixed at provisioning).
	recent     atomic.Pointer[recent]
	acmeRecent map[string]*atomic.Pointer[recent]
}

func (s *server) name() string { return s.spec.Server.Name() + " (" + s.key.String() + ")" }

// sameAs says whether s was provisioned from what sp says, so a reload that
// did not change it keeps it (and its cache entry) as it is.
func (s *server) sameAs(key listenerKey, sp Spec) bool {
	a, b := s.spec.Server, sp.Server
	return s.key == key && a.Gateway == b.Gateway && a.Field == b.Field && a.Protocol == b.Protocol &&
		slices.Equal(a.Hosts, b.Hosts) && a.TLS.Fingerprint == b.TLS.Fingerprint && a.TLS.Fingerprint != ""
}

// unmanagedTag marks every certificate this package caches from files or
// Secrets; a certificate in the cache without it is one certmagic manages.
const unmanagedTag = "egressgw"

// Update provisions specs and swaps them in only if every one of them
// worked; on error the previous specs keep serving and the error names
// each server that failed. It never waits for ACME: certificates for the
// servers without material are issued in the background, retried with
// backoff, each failure logged with the CA's error.
func (m *Manager) Update(specs []Spec) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errors.New("update server certificates: manager closed")
	}
	old := m.state.Load()
	oldHashes := old.hashes()

	var errs []error
	var cached []string // hashes this update put in the cache
	byKey := map[listenerKey][]*server{}
	var keys []listenerKey
	for _, sp := range specs {
		key := listenerKey{sp.Side, sp.Port}
		s := old.find(key, sp)
		if s == nil {
			var err error
			if s, err = m.provision(key, sp); err != nil {
				errs = append(errs, err)
				continue
			}
			if s.hash != "" {
				cached = append(cached, s.hash)
			}
		}
		if byKey[key] == nil {
			keys = append(keys, key)
		}
		byKey[key] = append(byKey[key], s)
	}
	if len(errs) > 0 {
		var drop []string
		for _, h := range cached {
			if _, ok := oldHashes[h]; !ok {
				drop = append(drop, h)
			}
		}
		m.cache.Remove(drop)
		return fmt.Errorf("update server certificates: %w", errors.Join(errs...))
	}

	next := &state{listeners: make(map[listenerKey]*listenerServers, len(keys)), acmeHosts: map[string]struct{}{}}
	for _, k := range keys {
		next.listeners[k] = newListenerServers(byKey[k])
		for _, s := range byKey[k] {
			for _, h := range s.acmeHosts {
				next.acmeHosts[h] = struct{}{}
			}
		}
	}
	m.state.Store(next)

	nextHashes := next.hashes()
	var stale []string
	for h := range oldHashes {
		if _, ok := nextHashes[h]; !ok {
			stale = append(stale, h)
		}
	}
	m.cache.Remove(stale)
	m.reconcileACME(next)
	return nil
}

// provision validates sp and builds its server; file and Secret material
// goes into the cache (without stapling: no network in Update; the cache's
// OCSP maintenance staples it).
func (m *Manager) provision(key listenerKey, sp Spec) (*server, error) {
	if sp.Server == nil {
		return nil, fmt.Errorf("%s: no server", key)
	}
	s := &server{key: key, spec: sp}
	t := sp.Server.TLS
	if t == nil || !t.Terminates() {
		return nil, fmt.Errorf("%s: does not terminate TLS (tls.mode SIMPLE, MUTUAL or OPTIONAL_MUTUAL)", s.name())
	}
	cfg := &tls.Config{
		MinVersion:   t.MinVersion,
		MaxVersion:   t.MaxVersion,
		CipherSuites: t.CipherSuites,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			return m.certificate(s, hello)
		},
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	if cfg.MaxVersion != 0 && cfg.MaxVersion < cfg.MinVersion {
		return nil, fmt.Errorf("%s: maxProtocolVersion %s is below minProtocolVersion %s", s.name(),
			tls.VersionName(cfg.MaxVersion), tls.VersionName(cfg.MinVersion))
	}
	if sp.Server.Protocol == route.ProtocolHTTP {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	}
	if t.Unserved != "" {
		s.tls, s.unserved = cfg, t.Unserved
		return s, nil
	}
	if t.Mode == route.TLSMutual || t.Mode == route.TLSOptionalMutual {
		mode, auth := "MUTUAL", tls.RequireAndVerifyClientCert
		if t.Mode == route.TLSOptionalMutual {
			mode, auth = "OPTIONAL_MUTUAL", tls.VerifyClientCertIfGiven
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(t.CAPEM) {
			return nil, fmt.Errorf("%s: tls.mode %s: client CA certificates: no PEM certificate found", s.name(), mode)
		}
		cfg.ClientAuth = auth
		cfg.ClientCAs = pool
	}
	s.tls = cfg

	if t.ACME {
		for _, h := range sp.Server.Hosts {
			if h != "*" && !strings.HasPrefix(h, "*.") && certmagic.SubjectQualifiesForCert(h) {
				s.acmeHosts = append(s.acmeHosts, h)
			}
		}
		s.acmeRecent = make(map[string]*atomic.Pointer[recent], len(s.acmeHosts))
		for _, h := range s.acmeHosts {
			s.acmeRecent[h] = new(atomic.Pointer[recent])
		}
		if len(s.acmeHosts) == 0 {
			return nil, fmt.Errorf("%s: no certificate material, and ACME issues for exact hosts only: hosts %v has none",
				s.name(), sp.Server.Hosts)
		}
		return s, nil
	}

	pair, err := tls.X509KeyPair(t.CertPEM, t.KeyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: certificate and key (%s): %w", s.name(), t.Source, err)
	}
	s.leaf = pair.Leaf
	s.lookup = firstName(pair.Leaf)
	tags := []string{unmanagedTag, sp.Server.Name()}
	s.hash, err = m.noStaple.CacheUnmanagedTLSCertificate(context.Background(), pair, tags)
	if err != nil {
		return nil, fmt.Errorf("%s: certificate (%s): %w", s.name(), t.Source, err)
	}
	if _, ok := m.cached(s); !ok { // certmagic indexes names as firstName says: a check, should that change
		return nil, fmt.Errorf("%s: certificate (%s): not found in the cache under %q after caching it", s.name(), t.Source, s.lookup)
	}
	return s, nil
}

// firstName is the first name certmagic indexes leaf under (the order of
// its fillCertFromLeaf: common name, DNS names, IPs, emails, URIs).
func firstName(leaf *x509.Certificate) string {
	switch {
	case leaf.Subject.CommonName != "":
		return strings.ToLower(leaf.Subject.CommonName)
	case len(leaf.DNSNames) > 0:
		return strings.ToLower(leaf.DNSNames[0])
	case len(leaf.IPAddresses) > 0:
		return leaf.IPAddresses[0].String()
	case len(leaf.EmailAddresses) > 0:
		return strings.ToLower(leaf.EmailAddresses[0])
	case len(leaf.URIs) > 0:
		return leaf.URIs[0].String()
	}
	return ""
}

// find returns the server of st provisioned from sp on key, or nil.
func (st *state) find(key listenerKey, sp Spec) *server {
	if sp.Server == nil || sp.Server.TLS == nil {
		return nil
	}
	l := st.listeners[key]
	if l == nil {
		return nil
	}
	for _, s := range l.servers {
		if s.sameAs(key, sp) {
			return s
		}
	}
	return nil
}

// hashes is the set of cache keys st serves.
func (st *state) hashes() map[string]struct{} {
	hs := map[string]struct{}{}
	for _, l := range st.listeners {
		for _, s := range l.servers {
			if s.hash != "" {
				hs[s.hash] = struct{}{}
			}
		}
	}
	return hs
}
