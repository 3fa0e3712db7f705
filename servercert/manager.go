package servercert

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"

	"github.com/egressgw/egressgw/route"
)

// DefaultStorage is where certmagic keeps ACME accounts, issued
// certificates, OCSP staples and locks when Config.Storage is empty.
const DefaultStorage = "/var/lib/egressgw/acme"

// Config configures a Manager.
type Config struct {
	Log     *zap.Logger // nil: no logs
	Storage string      // --acme-storage; empty: DefaultStorage
	ACME    *ACME       // nil: no ACME (servers with ACME true fail their handshakes, logged once per host)
}

// ACME is the CA that issues certificates for the servers that have no
// material of their own.
type ACME struct {
	CA    string         // --acme-ca: the directory URL
	Roots *x509.CertPool // --acme-ca-root: roots trusted for the CA's own API; nil: the system's
	Email string         // --acme-email: the account's contact; may be empty

	// DisableHTTP01 and DisableTLSALPN01 turn a challenge type off (the
	// CA then has only the other one to validate with); both on by default.
	DisableHTTP01, DisableTLSALPN01 bool

	// RetryMin and RetryMax bound the backoff between two failed
	// issuances of a host: it starts at RetryMin and doubles up to
	// RetryMax. Zero: DefaultRetryMin and DefaultRetryMax.
	RetryMin, RetryMax time.Duration
}

// The default backoff of a failing issuance: 1 minute doubling to 1 hour
// stays within Let's Encrypt's 5 failed validations per host and hour.
const (
	DefaultRetryMin = time.Minute
	DefaultRetryMax = time.Hour
)

// Manager holds every server certificate and hands listeners their TLS
// configuration. Its methods are safe for concurrent use.
//
// state is immutable once stored and replaced whole by Update (under mu,
// which also guards closed and the writes of issuing); listeners is guarded by lmu and only grows.
type Manager struct {
	log      *zap.Logger
	acme     *ACME // nil: no ACME
	caName   string
	cache    *certmagic.Cache
	magic    *certmagic.Config // issues, renews and staples; the cache's config for every certificate
	noStaple *certmagic.Config // caches file and Secret certificates in Update without going to the network
	issuer   *certmagic.ACMEIssuer
	solver   *solverPort // nil without ACME
	// challenge answers a TLS-ALPN-01 validation with certmagic's
	// challenge certificate; nil without ACME.
	challenge *tls.Config

	state atomic.Pointer[state]

	mu      sync.Mutex // serializes Update and Close
	issuing sync.Map   // ACME host -> *issuance; written under mu, read by handshakes
	closed  bool

	lmu       sync.Mutex
	listeners map[listenerKey]*listenerConf

	logged sync.Map // ACME host -> struct{}: its pending handshake failure was logged
}

// New returns a Manager with no specs: every handshake fails until Update.
func New(cfg Config) (*Manager, error) {
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	storage := cfg.Storage
	if storage == "" {
		storage = DefaultStorage
	}
	m := &Manager{
		log:       log,
		listeners: map[listenerKey]*listenerConf{},
	}
	if cfg.ACME != nil {
		a := *cfg.ACME
		if a.CA == "" {
			return nil, fmt.Errorf("acme: no CA directory URL (--acme-ca)")
		}
		if a.RetryMin <= 0 {
			a.RetryMin = DefaultRetryMin
		}
		if a.RetryMax <= 0 {
			a.RetryMax = DefaultRetryMax
		}
		if a.RetryMax < a.RetryMin {
			a.RetryMax = a.RetryMin
		}
		if err := os.MkdirAll(storage, 0o700); err != nil {
			return nil, fmt.Errorf("acme storage (--acme-storage): %w", err)
		}
		m.acme = &a
		m.caName = "ACME " + a.CA
	}
	cmLog := log.Named("certmagic")
	// The cache's maintenance goroutine starts now; it asks for the config
	// (to renew and staple) only through ready, stored once it is complete.
	var ready atomic.Pointer[certmagic.Config]
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) {
			if c := ready.Load(); c != nil {
				return c, nil
			}
			return nil, fmt.Errorf("certificate manager not ready")
		},
		Logger: cmLog,
	})
	fs := &certmagic.FileStorage{Path: storage}
	// A non-nil empty Issuers keeps certmagic from defaulting to its own
	// public CA when ACME is off.
	m.magic = certmagic.New(m.cache, certmagic.Config{Storage: fs, Logger: cmLog, Issuers: []certmagic.Issuer{}})
	m.noStaple = certmagic.New(m.cache, certmagic.Config{Storage: fs, Logger: cmLog, Issuers: []certmagic.Issuer{},
		OCSP: certmagic.OCSPConfig{DisableStapling: true}})
	if m.acme != nil {
		sp, err := newSolverPort()
		if err != nil {
			m.cache.Stop()
			return nil, fmt.Errorf("acme: %w", err)
		}
		m.solver = sp
		m.issuer = certmagic.NewACMEIssuer(m.magic, certmagic.ACMEIssuer{
			CA:                      m.acme.CA,
			Email:                   m.acme.Email,
			Agreed:                  true,
			TrustedRoots:            m.acme.Roots,
			DisableHTTPChallenge:    m.acme.DisableHTTP01,
			DisableTLSALPNChallenge: m.acme.DisableTLSALPN01,
			// The challenges are answered on the gateway's own listeners
			// (HandleHTTPChallenge, TLSConfig): certmagic finds this port
			// taken and opens no listener of its own.
			ListenHost:     sp.host,
			AltHTTPPort:    sp.port,
			AltTLSALPNPort: sp.port,
			Logger:         cmLog,
		})
		m.magic.Issuers = []certmagic.Issuer{quietIssuer{m.issuer}}
		m.challenge = &tls.Config{GetCertificate: m.magic.GetCertificate, NextProtos: []string{acmez.ACMETLS1Protocol}}
	}
	m.state.Store(&state{listeners: map[listenerKey]*listenerServers{}, acmeHosts: map[string]struct{}{}})
	ready.Store(m.magic)
	return m, nil
}

// Close stops every issuance and the cache's maintenance. Listeners'
// configurations keep answering with the last specs.
func (m *Manager) Close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	var running []*issuance
	m.issuing.Range(func(_, v any) bool {
		is := v.(*issuance)
		is.cancel()
		running = append(running, is)
		return true
	})
	m.mu.Unlock()
	for _, is := range running {
		<-is.done
	}
	if m.solver != nil {
		m.solver.close()
	}
	m.cache.Stop()
}

// listenerKey names a listener: its side and port.
type listenerKey struct {
	side route.Side
	port uint32
}

func (k listenerKey) String() string { return fmt.Sprintf("%s port %d", k.side, k.port) }

// state is one Update's result. Immutable.
type state struct {
	listeners map[listenerKey]*listenerServers
	acmeHosts map[string]struct{} // every host an ACME server wants a certificate for
}

// listenerConf is a listener's stable tls.Config and its refusal log.
type listenerConf struct {
	key     listenerKey
	cfg     *tls.Config
	refusal logLimiter
}
