package egress

import (
	"crypto/tls"
	"net"
	"net/http"

	"github.com/egressgw/egressgw/egress/sniff"
	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

// Certificates serves the certificates of TLS-terminating Gateway servers.
// Implementations are safe for concurrent use.
type Certificates interface {
	// Update provisions the certificates of t's terminating servers; on
	// error the previous ones keep serving.
	Update(t *route.Table) error
	// TLSConfig is the listener's server configuration: it chooses the
	// certificate (and client verification) by SNI among the port's servers.
	TLSConfig(side route.Side, port uint32) *tls.Config
	// HandleHTTPChallenge answers an ACME HTTP-01 challenge request and
	// reports whether it did.
	HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool
}

// ingressTLS serves a TLS connection to an ingress Gateway port, its
// ClientHello read: the server the SNI names either passes it through to
// a tls route's destination or terminates it, its requests then served by
// the listener's HTTP server like any plaintext one. It reports whether the
// relay took the connection (end is then called when it is done).
func (e *Engine) ingressTLS(st *state, l *listener, rl *route.Listener, c *net.TCPConn, pr *peekReader, hello *tls.ClientHelloInfo, end func()) bool {
	sni := requestHost(hello.ServerName)
	srv := rl.ServerFor(sni)
	refuse := func(alert byte, reason, close string) bool {
		readers.Put(pr)
		sniff.WriteAlert(c, alert)
		e.logConn(st, l, c, connLog{proto: "tls", host: sni, decision: "deny", rule: "gateway", reason: reason, close: close})
		_ = c.Close()
		return false
	}
	switch {
	case srv == nil:
		reason := noServerReason(rl, sni)
		if sni == "" {
			reason = "the ClientHello carries no SNI, and ingress port " + l.label + " has several servers, none with hosts \"*\" to take it: " + reason
		}
		return refuse(sniff.AlertUnrecognizedName, reason, "no_server")
	case srv.TLS == nil || srv.TLS.Mode == route.TLSAcceptPlaintext:
		return refuse(sniff.AlertUnrecognizedName, srv.Name()+" serves "+sni+" without TLS on port "+l.label+": TLS was sent; use http://", "protocol_mismatch")
	case srv.TLS.Mode == route.TLSPassthrough || srv.Protocol == route.ProtocolTLS:
		tr := rl.LookupTLS(sni, l.port)
		if tr == nil {
			return refuse(sniff.AlertUnrecognizedName, srv.Name()+" passes TLS for "+sni+" through, but no VirtualService tls route bound to it matches that SNI", "no_route")
		}
		d := tr.Pick(e.pick(tr.TotalWeight))
		u := st.cluster(d)
		if u == nil {
			return refuse(sniff.AlertInternalError, "tls route "+tr.Field+" of VirtualService "+tr.VirtualService+": "+st.missing(d), "no_upstream")
		}
		dec := st.ingressDecide(policy.Query{Host: sni, Port: l.port, Source: remoteAddr(c)}, "VirtualService "+tr.VirtualService+" "+tr.Field)
		return e.relayRouted(st, l, c, pr, sni, "tls", u, dec, connLog{gateway: srv.Gateway, virtualService: tr.VirtualService, route: tr.Field}, end)
	case e.cfg.Certs == nil:
		return refuse(sniff.AlertInternalError, srv.Name()+" terminates TLS, but the gateway was started without certificates", "no_certificate")
	}
	e.conns.Add(1) // the HTTP server owns the connection now; released when it closes
	l.queue.push(tls.Server(&bufConn{TCPConn: c, pr: pr, done: e.conns.Done}, e.cfg.Certs.TLSConfig(route.Ingress, l.port)))
	return false
}

// ingressTCP forwards a connection to a TCP server of an ingress port to its tcp route.
func (e *Engine) ingressTCP(st *state, l *listener, rl *route.Listener, c *net.TCPConn, end func()) bool {
	tr := rl.LookupTCP(l.port)
	lg := connLog{proto: "tcp", decision: "deny", rule: "gateway", close: "no_route"}
	if tr == nil {
		lg.reason = "no VirtualService tcp route is bound to TCP port " + l.label
		e.logConn(st, l, c, lg)
		_ = c.Close()
		return false
	}
	d := tr.Pick(e.pick(tr.TotalWeight))
	u := st.cluster(d)
	if u == nil {
		lg.reason, lg.close = "tcp route "+tr.Field+" of VirtualService "+tr.VirtualService+": "+st.missing(d), "no_upstream"
		e.logConn(st, l, c, lg)
		_ = c.Close()
		return false
	}
	dec := st.ingressDecide(policy.Query{Port: l.port, Source: remoteAddr(c)}, "VirtualService "+tr.VirtualService+" "+tr.Field)
	gw := ""
	if tr.Server != nil {
		gw = tr.Server.Gateway
	}
	return e.relayRouted(st, l, c, nil, u.entry.Host, "tcp", u, dec, connLog{gateway: gw, virtualService: tr.VirtualService, route: tr.Field}, end)
}

// tcpOnly reports whether every server of rl is TCP without TLS: its
// connections are forwarded without peeking (server-first protocols).
func tcpOnly(rl *route.Listener) bool {
	for _, s := range rl.Servers {
		if s.Protocol != route.ProtocolTCP || s.TLS != nil {
			return false
		}
	}
	return len(rl.Servers) > 0
}

// noServerReason says that no server of rl admits host.
func noServerReason(rl *route.Listener, host string) string {
	return route.Result{Miss: route.NoServer}.Explain(host, "", rl)
}
