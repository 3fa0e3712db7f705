package servercert

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"

	"github.com/egressgw/egressgw/route"
)

// refuse has no certificate: crypto/tls answers a handshake it is returned
// for with the unrecognized_name alert.
var refuse = &tls.Config{}

// TLSConfig returns the listener's tls.Config: the same pointer for the
// listener's whole life, whose GetConfigForClient reads the current specs.
// It picks the server by SNI among the port's servers (exact, then the
// longest wildcard, then "*"), or without SNI the port's only server or
// its "*" one, and returns that server's configuration: its certificate,
// versions and cipher suites, a verified client certificate for MUTUAL,
// ALPN h2 and http/1.1 for HTTP servers. Anything else fails with
// unrecognized_name and a log line. An ACME TLS-ALPN-01 validation for a
// host being issued gets its challenge certificate.
func (m *Manager) TLSConfig(side route.Side, port uint32) *tls.Config {
	key := listenerKey{side, port}
	m.lmu.Lock()
	defer m.lmu.Unlock()
	if l := m.listeners[key]; l != nil {
		return l.cfg
	}
	l := &listenerConf{key: key}
	l.cfg = &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) { return m.configForClient(l, hello) },
	}
	m.listeners[key] = l
	return l.cfg
}

func (m *Manager) configForClient(l *listenerConf, hello *tls.ClientHelloInfo) (*tls.Config, error) {
	st := m.state.Load()
	name := normalizeSNI(hello.ServerName)
	if m.issuer != nil && name != "" && len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmez.ACMETLS1Protocol {
		if _, ok := st.acmeHosts[name]; ok {
			return m.challenge, nil
		}
	}
	ls := st.listeners[l.key]
	if ls == nil {
		m.refused(l, hello, "no TLS server on this port")
		return refuse, nil
	}
	var s *server
	if name == "" {
		if s = ls.noSNI(); s == nil {
			m.refused(l, hello, "no SNI, and the port has several servers and none with hosts \"*\" to default to")
			return refuse, nil
		}
	} else if s = ls.forName(name); s == nil {
		m.refused(l, hello, "no server of this port has a host matching the SNI")
		return refuse, nil
	}
	return s.tls, nil
}

// refused logs a refused handshake, at most once a second per listener
// (with the count of those not logged), since any client can cause one.
func (m *Manager) refused(l *listenerConf, hello *tls.ClientHelloInfo, reason string) {
	if n, ok := l.refusal.allow(time.Now()); ok {
		m.log.Warn("tls handshake refused: unrecognized_name",
			zap.String("listener", l.key.String()), zap.String("sni", hello.ServerName),
			zap.String("remote", remote(hello)), zap.String("reason", reason), zap.Uint64("not_logged", n))
	}
}

// certificate is a server's GetCertificate: its file or Secret material
// from the cache, or the ACME certificate of the host asked for.
func (m *Manager) certificate(s *server, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if s.unserved != "" {
		err := fmt.Errorf("%s: no certificate: %s", s.name(), s.unserved)
		if !s.warned.Swap(true) {
			m.log.Warn("tls handshake failed: no certificate", zap.String("server", s.spec.Server.Name()),
				zap.String("listener", s.key.String()), zap.String("sni", hello.ServerName), zap.Error(err))
		}
		return nil, err
	}
	now := time.Now().UnixNano()
	if s.acmeHosts == nil {
		if r := s.recent.Load(); r != nil && now-r.at < int64(refreshEvery) {
			return r.cert, nil
		}
		c, ok := m.cached(s)
		if ok {
			s.recent.Store(&recent{cert: c, at: now})
		}
		if !ok {
			return nil, fmt.Errorf("%s: certificate (%s) not in the cache", s.name(), s.spec.Server.TLS.Source)
		}
		return c, nil
	}
	host := normalizeSNI(hello.ServerName)
	if host == "" {
		host = s.acmeHosts[0]
	} else if !contains(s.acmeHosts, host) {
		err := fmt.Errorf("%s: no certificate for %s: ACME issues for the server's exact hosts only (%v)", s.name(), host, s.acmeHosts)
		m.logOnce(host, err)
		return nil, err
	}
	if m.issuer == nil {
		err := fmt.Errorf("%s: no certificate for %s: the server has no certificate material and ACME is off (--acme-ca unset)", s.name(), host)
		m.logOnce(host, err)
		return nil, err
	}
	p := s.acmeRecent[host]
	if r := p.Load(); r != nil && now-r.at < int64(refreshEvery) {
		return r.cert, nil
	}
	if c, ok := m.managed(host); ok {
		p.Store(&recent{cert: c, at: now})
		return c, nil
	}
	err := fmt.Errorf("%s: no certificate for %s yet from %s: %s", s.name(), host, m.caName, m.issueStatus(host))
	m.logOnce(host, err)
	return nil, err
}

// recent is a certificate found in the cache and when (unix nanoseconds):
// a server looks its certificate up in the cache again (for a renewal or a
// new OCSP staple) at most once every refreshEvery, so that a handshake
// costs neither the cache's lock nor its allocations. Immutable.
type recent struct {
	cert *tls.Certificate
	at   int64
}

const refreshEvery = 10 * time.Second

// logOnce logs why a host's handshakes fail, the first time only: until it
// has a certificate again, every handshake for it fails the same way.
func (m *Manager) logOnce(host string, err error) {
	m.logOnceAs("tls handshake failed: no certificate", host, err)
}

func (m *Manager) logOnceAs(msg, host string, err error) {
	if _, seen := m.logged.LoadOrStore(host, struct{}{}); !seen {
		m.log.Warn(msg, zap.String("host", host), zap.Error(err))
	}
}

// cached returns the file or Secret certificate of s from the cache, as
// its OCSP maintenance last stapled it.
func (m *Manager) cached(s *server) (*tls.Certificate, bool) {
	for _, c := range m.cache.AllMatchingCertificates(s.lookup) {
		if c.Hash() == s.hash {
			return &c.Certificate, true
		}
	}
	return nil, false
}

// managed returns the certificate certmagic manages for host, the one
// valid longest when it holds several.
func (m *Manager) managed(host string) (*tls.Certificate, bool) {
	var best *tls.Certificate
	for _, c := range m.cache.AllMatchingCertificates(host) {
		if c.HasTag(unmanagedTag) || !contains(c.Names, host) || c.Leaf == nil {
			continue
		}
		if best == nil || c.Leaf.NotAfter.After(best.Leaf.NotAfter) {
			best = &c.Certificate
		}
	}
	return best, best != nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func remote(hello *tls.ClientHelloInfo) string {
	if hello.Conn == nil {
		return ""
	}
	return hello.Conn.RemoteAddr().String()
}
