package egress

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"

	"github.com/egressgw/egressgw/egress/sniff"
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
		src := remoteAddr(c)
		cl := e.clientOf(src)
		dec := st.ingressDecide(cl.query(sni, l.port, src), "VirtualService "+tr.VirtualService+" "+tr.Field)
		return e.relayRouted(st, l, c, pr, sni, "tls", u, dec, connLog{gateway: srv.Gateway, virtualService: tr.VirtualService, route: tr.Field, client: cl}, end)
	case e.cfg.Certs == nil:
		return refuse(sniff.AlertInternalError, srv.Name()+" terminates TLS, but the gateway was started without certificates", "no_certificate")
	}
	e.terminate(st, l, c, pr, sni, srv)
	return false
}

// terminate does the TLS handshake of an ingress connection whose server
// terminates TLS, then serves its requests: HTTP/1.x on the same path as
// plaintext ones (h1conn), HTTP/2 by serveH2 (with Config.StdlibPaths,
// both by the listener's net/http server).
func (e *Engine) terminate(st *state, l *listener, c *net.TCPConn, pr *peekReader, sni string, srv *route.Server) {
	bc := &bufConn{TCPConn: c, pr: pr, done: func() {}}
	tc := tls.Server(bc, e.cfg.Certs.TLSConfig(route.Ingress, l.port))
	ctx, cancel := context.WithTimeout(e.stop, tlsHandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		e.logConn(st, l, c, connLog{proto: "tls", host: sni, gateway: srv.Gateway, decision: "deny", rule: "gateway",
			reason: "TLS handshake with " + srv.Name() + " failed: " + err.Error(), close: "tls_handshake"})
		_ = c.Close()
		return
	}
	switch proto := tc.ConnectionState().NegotiatedProtocol; {
	case proto == acmeTLS1: // a TLS-ALPN-01 validation: the handshake was all of it
		_ = tc.Close()
	case proto == "h2" && !e.cfg.StdlibPaths:
		cs := tc.ConnectionState()
		e.serveH2(l, tc, &cs)
	case proto == "h2" || e.cfg.StdlibPaths:
		e.conns.Add(1) // the HTTP server owns the connection now; released when it closes
		bc.done = e.conns.Done
		l.queue.push(tc)
	default:
		e.serveH1TLS(l, c, tc)
	}
}

// tlsHandshakeTimeout bounds a terminated connection's TLS handshake (net/http's server allowed the same as for a request head).
const tlsHandshakeTimeout = h1HeaderTimeout

// acmeTLS1 is the ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737).
const acmeTLS1 = "acme-tls/1"

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
	src := remoteAddr(c)
	cl := e.clientOf(src)
	dec := st.ingressDecide(cl.query("", l.port, src), "VirtualService "+tr.VirtualService+" "+tr.Field)
	gw := ""
	if tr.Server != nil {
		gw = tr.Server.Gateway
	}
	return e.relayRouted(st, l, c, nil, u.entry.Host, "tcp", u, dec, connLog{gateway: gw, virtualService: tr.VirtualService, route: tr.Field, client: cl}, end)
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
