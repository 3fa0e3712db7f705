package egress

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/egress/sniff"
	"github.com/egressgw/egressgw/netguard"
	"github.com/egressgw/egressgw/origination"
	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

// helloTimeout bounds how long a new connection may take to show what it
// is. A variable for tests.
var helloTimeout = 10 * time.Second

// readers lend each new connection the buffer it is classified with (and,
// for HTTP/1, read with); writers lend HTTP/1 connections their response buffer.
var (
	readers = sync.Pool{New: func() any { p := new(peekReader); p.br = bufio.NewReaderSize(&p.cr, sniff.BufferSize); return p }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// h2Preface starts the connection preface of HTTP/2 with prior knowledge.
const h2Preface = "PRI "

// noDecision is the policy outcome logged for a request refused before any decision.
func noDecision(rule string) policy.Decision { return policy.Decision{Entry: -1, Rule: rule} }

// serveConn classifies a new connection: a TCP listener forwards it as is;
// otherwise a TLS ClientHello goes to SNI passthrough, and HTTP/2 with
// prior knowledge (serveH2) and anything else (HTTP/1) are served on this
// goroutine (with Config.StdlibPaths, by the listener's net/http server). Each connection keeps the state it started with.
func (e *Engine) serveConn(l *listener, c *net.TCPConn) {
	e.metrics.ActiveConns.Inc()
	end := func() {
		e.metrics.ActiveConns.Dec()
		e.conns.Done()
	}
	// A relayed connection ends after this goroutine: the relay calls end.
	relayed := false
	defer func() {
		if !relayed {
			end()
		}
	}()
	defer e.survive(c)
	st := e.state.Load()
	var rl *route.Listener // an ingress port's Gateway servers and routes
	if l.side == route.Ingress {
		if rl = st.snap.Routes.Listener(route.Ingress, l.port); rl == nil {
			_ = c.Close()
			return
		}
		if tcpOnly(rl) {
			relayed = e.ingressTCP(st, l, rl, c, end)
			return
		}
	} else if spec, ok := st.listeners[l.port]; !ok {
		_ = c.Close()
		return
	} else if spec.Kind == config.ListenerTCP {
		ent := &st.snap.Entries[spec.TCPEntry]
		relayed = e.forward(st, l, c, nil, ent.Host, "tcp", end)
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(helloTimeout))
	// Until the client has shown what it is there is nothing in flight:
	// shutdown ends the wait at once instead of after helloTimeout.
	unwatch := context.AfterFunc(e.stop, func() { _ = c.SetReadDeadline(time.Now()) })
	pr := readers.Get().(*peekReader)
	pr.reset(c)
	br := pr.br
	b, err := br.Peek(1)
	if err == nil && b[0] == h2Preface[0] {
		b, err = br.Peek(len(h2Preface))
	}
	if !unwatch() || err != nil {
		readers.Put(pr)
		_ = c.Close()
		return
	}
	if string(b) == h2Preface {
		_ = c.SetReadDeadline(time.Time{})
		if !e.cfg.StdlibPaths {
			e.serveH2(l, &bufConn{TCPConn: c, pr: pr, done: func() {}}, nil)
			return
		}
		e.conns.Add(1) // the HTTP server now owns it; released when it closes
		l.queue.push(&bufConn{TCPConn: c, pr: pr, done: e.conns.Done})
		return
	}
	if b[0] != sniff.RecordTypeHandshake {
		if e.cfg.StdlibPaths { // net/http's server loop instead of ours
			_ = c.SetReadDeadline(time.Time{})
			e.conns.Add(1)
			l.queue.push(&bufConn{TCPConn: c, pr: pr, done: e.conns.Done})
			return
		}
		e.serveH1(l, c, pr)
		return
	}
	hello, err := sniff.ReadClientHello(br)
	if err != nil {
		readers.Put(pr)
		e.logConn(st, l, c, connLog{proto: "tls", decision: "deny", reason: "not a valid TLS ClientHello: " + err.Error(), close: "bad_client_hello"})
		_ = c.Close()
		return
	}
	if hello.ServerName == "" && rl == nil { // ingress: the port's default server may take it
		readers.Put(pr)
		sniff.WriteAlert(c, sniff.AlertUnrecognizedName)
		e.logConn(st, l, c, connLog{proto: "tls", decision: "deny", reason: "the ClientHello carries no SNI; egressgw routes TLS by server name", close: "no_sni"})
		_ = c.Close()
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	if rl != nil {
		relayed = e.ingressTLS(st, l, rl, c, pr, hello, end)
		return
	}
	relayed = e.forward(st, l, c, pr, requestHost(hello.ServerName), "tls", end)
}

// routeTLS finds the tls route of a pod's TLS connection to host on an
// egress port (a VirtualService bound to mesh, and through the egress
// gateway's own Service the egress Gateway's): ok false when none applies.
// A route whose destination has no upstream gives a nil upstream, lg
// saying why.
func (e *Engine) routeTLS(st *state, port uint32, host string, cl *client) (u *upstream, lg connLog, ok bool) {
	rl := st.snap.Routes.Listener(route.Egress, port)
	if rl == nil || len(rl.TLS) == 0 {
		return nil, lg, false
	}
	tr := rl.LookupTLSFrom(route.Mesh, host, port, cl.source())
	if tr == nil {
		return nil, lg, false
	}
	d := tr.Pick(e.pick(tr.TotalWeight))
	if hop, isHop := st.egressHop(d); isHop {
		gl := st.snap.Routes.Listener(route.Egress, hop)
		var gr *route.TLSRoute
		if gl != nil {
			gr = gl.LookupTLS(host, hop)
		}
		if gr == nil {
			lg.virtualService, lg.route = tr.VirtualService, tr.Field
			lg.rule, lg.reason = "route", "tls route "+tr.Field+" of VirtualService "+tr.VirtualService+" sends "+host+" to the egress gateway on port "+
				strconv.Itoa(int(hop))+", where no tls route bound to an egress Gateway matches it"
			return nil, lg, true
		}
		tr, d = gr, gr.Pick(e.pick(gr.TotalWeight))
		if srv := gl.ServerFor(host); srv != nil {
			lg.gateway = srv.Gateway
		}
	}
	lg.virtualService, lg.route = tr.VirtualService, tr.Field
	src := cl
	if tr.Server != nil { // the egress Gateway's route, after the hop: the rule the gateway's namespace sees
		src = &client{gateway: true}
	}
	if u = st.clusterFor(d, src); u == nil {
		lg.rule, lg.reason = "route", "tls route "+tr.Field+" of VirtualService "+tr.VirtualService+": "+st.missingFor(d, src)
	}
	return u, lg, true
}

// remoteAddr is c's peer address, IPv4-mapped addresses unmapped.
func remoteAddr(c net.Conn) netip.Addr {
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	return ap.Addr().Unmap()
}

// survive, deferred by a connection's goroutine, recovers from a panic
// there (a bug): it is reported, the connection closed, and the gateway
// serves on, as net/http's server does for a handler.
func (e *Engine) survive(c *net.TCPConn) {
	v := recover()
	if v == nil {
		return
	}
	if v != http.ErrAbortHandler { // the handler's way to abort a response: not a bug
		e.panicked("connection", v, debug.Stack())
	}
	_ = c.Close()
}

// forward decides on a TLS (by SNI) or TCP connection and hands it to the
// relay, which splices it to the upstream. It reports whether it did: the
// connection is then logged and end called when the relay is done with it,
// and the calling goroutine is free to go (its stack is most of what an
// idle connection would otherwise cost).
func (e *Engine) forward(st *state, l *listener, c *net.TCPConn, pr *peekReader, host, proto string, end func()) bool {
	src := remoteAddr(c)
	cl := e.clientOf(src) // once per connection
	d := st.snap.Policy.Decide(cl.query(host, l.port, src))
	var u *upstream
	if d.Allow {
		if proto == "tls" {
			if ru, lg, ok := e.routeTLS(st, l.port, host, &cl); ok {
				lg.client = cl
				if ru == nil {
					lg.proto, lg.host, lg.decision, lg.close = proto, host, "deny", "no_upstream"
					sniff.WriteAlert(c, sniff.AlertInternalError)
					e.logConn(st, l, c, lg)
					_ = c.Close()
					readers.Put(pr)
					return false
				}
				return e.relayRouted(st, l, c, pr, host, proto, ru, d, lg, end)
			}
		}
		u = st.lookupFor(d.Entry, l.port, &cl)
	}
	return e.relayTo(st, l, c, pr, host, proto, u, d, cl, end)
}

// relayTo carries out decision d on a TLS (by SNI) or TCP connection for
// host: refused, or spliced to u by the relay. It reports whether the
// relay took the connection (as forward).
func (e *Engine) relayTo(st *state, l *listener, c *net.TCPConn, pr *peekReader, host, proto string, u *upstream, d policy.Decision, cl client, end func()) bool {
	return e.relayRouted(st, l, c, pr, host, proto, u, d, connLog{client: cl}, end)
}

// relayRouted is relayTo for a connection a tls or tcp route took: lg
// names its Gateway, VirtualService and route.
func (e *Engine) relayRouted(st *state, l *listener, c *net.TCPConn, pr *peekReader, host, proto string, u *upstream, d policy.Decision, lg connLog, end func()) bool {
	start := time.Now()
	var br *bufio.Reader
	if pr != nil {
		br = pr.br
	}
	release := func() {
		if pr != nil {
			readers.Put(pr)
			pr, br = nil, nil
		}
	}
	defer release()
	lg.proto, lg.host, lg.decision, lg.rule, lg.start = proto, host, "allow", d.Rule, start
	if !d.Allow {
		lg.decision, lg.reason, lg.close = "deny", d.Reason, "denied"
		if br != nil {
			sniff.WriteAlert(c, sniff.AlertAccessDenied)
		}
		e.logConn(st, l, c, lg)
		_ = c.Close()
		return false
	}
	lg.upstream = u
	if u.port.Protocol == config.ProtocolHTTP && br != nil {
		lg.decision, lg.close = "deny", "protocol_mismatch"
		lg.reason = "port " + l.label + " of " + host + " is declared HTTP in " + u.entry.Source +
			": TLS was sent; send plain HTTP (a DestinationRule originates TLS), or declare the port HTTPS/TLS"
		sniff.WriteAlert(c, sniff.AlertInternalError)
		e.logConn(st, l, c, lg)
		_ = c.Close()
		return false
	}
	ctx, cancel := context.WithCancel(e.stop)
	up, err := e.dialer.dial(ctx, u.target, host)
	cancel()
	if err != nil {
		_, cause := origination.Classify(err)
		var denied *netguard.DeniedError
		if cause == origination.CauseDenied && errors.As(err, &denied) {
			e.metrics.Guarded.WithLabelValues(denied.Class.Label()).Inc()
			lg.decision, lg.rule, lg.close = "deny", ruleNetguard, "denied"
			lg.reason = "request to " + host + " denied: " + deniedReason(denied, host)
			if br != nil { // TLS; a TCP listener's client may speak first and expects no TLS
				sniff.WriteAlert(c, sniff.AlertAccessDenied)
			}
			e.logConn(st, l, c, lg)
			_ = c.Close()
			return false
		}
		e.metrics.UpstreamFailures.WithLabelValues(string(cause)).Inc()
		lg.close, lg.reason = string(cause), err.Error()
		e.logConn(st, l, c, lg)
		_ = c.Close()
		return false
	}
	lg.addr = up.RemoteAddr().String()
	if br != nil {
		buf, _ := br.Peek(br.Buffered())
		if _, err := up.Write(buf); err != nil {
			lg.close, lg.reason = "upstream_write", err.Error()
			e.logConn(st, l, c, lg)
			_ = c.Close()
			_ = up.Close()
			return false
		}
		lg.sent = int64(len(buf))
		release()
	}
	e.relay.add(c, up, u.idle, func(res relayResult) {
		lg.sent += res.sent
		lg.received, lg.close = res.received, res.reason
		e.logConn(st, l, c, lg)
		end()
	})
	return true
}

type connLog struct {
	proto, host, decision, rule, reason, close, addr string
	gateway, virtualService, route                   string // the Gateway server and tls/tcp route that took it, if any
	upstream                                         *upstream
	client                                           client // the source pod, when it was looked up
	sent, received                                   int64
	start                                            time.Time
}

func (e *Engine) logConn(st *state, l *listener, c net.Conn, lg connLog) {
	hostLabel, cluster := "unregistered", ""
	if lg.upstream != nil {
		hostLabel, cluster = lg.upstream.host, lg.upstream.cluster
	}
	e.metrics.Connections.WithLabelValues(l.side.String(), l.label, hostLabel, lg.decision, closeLabel(lg.close)).Inc()
	if !lg.client.known && e.cfg.Identities != nil { // refused before its pod was looked up
		lg.client = e.clientOf(remoteAddr(c))
	}
	lg.client.count(e.metrics.SourceConnections, nil, l.side, lg.decision == "deny")
	if ce := e.access.Check(zap.InfoLevel, "connection"); ce != nil {
		var dur time.Duration
		if !lg.start.IsZero() {
			dur = time.Since(lg.start)
		}
		ns, pod := lg.client.logFields()
		ce.Write(zap.String("src", c.RemoteAddr().String()), ns, pod, zap.String("direction", l.side.String()), zap.String("listener", l.label), zap.String("proto", lg.proto),
			zap.String("sni", lg.host), zap.String("decision", lg.decision), zap.String("rule", lg.rule),
			zap.String("gateway", lg.gateway), zap.String("virtual_service", lg.virtualService), zap.String("route", lg.route),
			zap.String("reason", lg.reason), zap.String("close", lg.close), zap.String("cluster", cluster),
			zap.String("upstream", lg.addr), zap.Int64("bytes_sent", lg.sent), zap.Int64("bytes_received", lg.received),
			zap.Duration("duration", dur))
	}
}

// closeLabel keeps the close reason's metric label to a fixed set.
func closeLabel(s string) string {
	if len(s) > 6 && s[:6] == "error:" {
		return "error"
	}
	return s
}

// bufConn is a connection whose first bytes were peeked: reads drain the
// peek buffer first, which then goes back to the pool.
type bufConn struct {
	*net.TCPConn
	pr   *peekReader
	once sync.Once
	done func()
}

func (c *bufConn) Read(p []byte) (int, error) {
	if c.pr != nil {
		if c.pr.br.Buffered() > 0 {
			return c.pr.br.Read(p)
		}
		readers.Put(c.pr)
		c.pr = nil
	}
	return c.TCPConn.Read(p)
}

func (c *bufConn) Close() error {
	err := c.TCPConn.Close()
	c.once.Do(c.done)
	return err
}
