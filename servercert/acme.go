package servercert

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"
)

// obtainTimeout bounds one issuance attempt (account, order, challenge,
// finalization).
const obtainTimeout = 5 * time.Minute

// quietIssuer is certmagic's ACME issuer that never prompts: certmagic's
// synchronous obtain, which our own retry loop calls, counts as
// interactive and would ask stdin for an email when none is configured.
type quietIssuer struct{ *certmagic.ACMEIssuer }

func (q quietIssuer) PreCheck(ctx context.Context, names []string, _ bool) error {
	return q.ACMEIssuer.PreCheck(ctx, names, false)
}

// issuance is the background work for one ACME host: obtain (or load from
// storage) its certificate, retrying with backoff, until it is in the
// cache; certmagic's maintenance renews it from then on.
type issuance struct {
	host   string
	cancel context.CancelFunc
	done   chan struct{}
	status atomic.Pointer[issueStatus]
}

// issueStatus is the outcome of an issuance so far. Immutable.
type issueStatus struct {
	attempts int
	err      error     // the last attempt's, nil once issued
	retry    time.Time // when the next attempt starts
	issued   bool
}

func (s *issueStatus) String() string {
	switch {
	case s == nil || (s.attempts == 0 && !s.issued):
		return "issuance under way"
	case s.issued:
		return "issued"
	}
	return fmt.Sprintf("attempt %d failed: %v; next attempt at %s", s.attempts, s.err, s.retry.UTC().Format(time.RFC3339))
}

// issueStatus describes the issuance for host, for messages.
func (m *Manager) issueStatus(host string) string {
	v, ok := m.issuing.Load(host)
	if !ok {
		return "no issuance for the host"
	}
	return v.(*issuance).status.Load().String()
}

// reconcileACME starts an issuance for every ACME host of st without one
// and stops those of hosts st no longer has, dropping their certificates
// from the cache once they are done. Called with m.mu held.
func (m *Manager) reconcileACME(st *state) {
	if m.issuer == nil {
		for _, l := range st.listeners {
			for _, s := range l.servers {
				for _, h := range s.acmeHosts {
					m.logOnceAs("acme is off: handshakes for this host will fail", h, fmt.Errorf(
						"%s has no certificate material for %s, and ACME is off (--acme-ca unset)", s.name(), h))
				}
			}
		}
		return
	}
	for h := range st.acmeHosts {
		if _, ok := m.issuing.Load(h); ok {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		is := &issuance{host: h, cancel: cancel, done: make(chan struct{})}
		m.issuing.Store(h, is)
		go m.issue(ctx, is)
	}
	m.issuing.Range(func(k, v any) bool {
		h, is := k.(string), v.(*issuance)
		if _, ok := st.acmeHosts[h]; ok {
			return true
		}
		m.issuing.Delete(h)
		is.cancel()
		go func() {
			<-is.done
			m.mu.Lock()
			defer m.mu.Unlock()
			if _, again := m.issuing.Load(h); !again && !m.closed { // not wanted again meanwhile
				m.cache.RemoveManaged([]certmagic.SubjectIssuer{{Subject: h, IssuerKey: m.issuer.IssuerKey()}})
				m.logged.Delete(h)
			}
		}()
		return true
	})
}

// issue gets host's certificate into the cache: certmagic loads it from
// storage or obtains it from the CA; a failure is logged with the CA's
// error and retried after a backoff doubling from RetryMin to RetryMax.
func (m *Manager) issue(ctx context.Context, is *issuance) {
	defer close(is.done)
	log := m.log.With(zap.String("host", is.host), zap.String("ca", m.acme.CA))
	wait := m.acme.RetryMin
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, obtainTimeout)
		err := m.magic.ManageSync(actx, []string{is.host})
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			is.status.Store(&issueStatus{attempts: attempt, issued: true})
			m.logged.Delete(is.host)
			log.Info("acme: certificate ready", zap.Int("attempt", attempt))
			return
		}
		retry := time.Now().Add(wait)
		is.status.Store(&issueStatus{attempts: attempt, err: err, retry: retry})
		log.Error("acme: issuance failed", zap.Int("attempt", attempt), zap.Duration("retry_in", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		wait = min(2*wait, m.acme.RetryMax)
	}
}

// solverPort is a loopback port held open so that certmagic, finding it
// taken, assumes the challenges are answered there and opens no listener
// of its own: a listener of its own on port 80 or 443 would take the port
// from the gateway's listeners (the challenges are answered by the
// gateway's own ones, through HandleHTTPChallenge and TLSConfig).
// Connections to it (certmagic's check that the port answers) are closed.
type solverPort struct {
	ln   net.Listener
	host string
	port int
	done chan struct{}
}

func newSolverPort() (*solverPort, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("challenge placeholder port: %w", err)
	}
	host, p, _ := net.SplitHostPort(ln.Addr().String())
	port, _ := strconv.Atoi(p)
	sp := &solverPort{ln: ln, host: host, port: port, done: make(chan struct{})}
	go func() {
		defer close(sp.done)
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			_ = c.Close()
		}
	}()
	return sp, nil
}

func (sp *solverPort) close() {
	_ = sp.ln.Close()
	<-sp.done
}
