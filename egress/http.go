package egress

import (
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"golang.org/x/net/http2"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/policy"
	"github.com/egressgw/egressgw/route"
)

// serveHTTP handles a request of an HTTP/2 client: from the engine's own
// HTTP/2 server (h2stream) or net/http's (Config.StdlibPaths).
func (e *Engine) serveHTTP(l *listener, w http.ResponseWriter, r *http.Request) {
	rec := getRecorder(w)
	defer putRecorder(rec)
	src, _ := netip.ParseAddrPort(r.RemoteAddr)
	if s, ok := w.(*h2stream); ok {
		rec.client = s.h.client // looked up once per connection
	} else {
		rec.client = e.clientOf(src.Addr().Unmap()) // net/http's server (--fast-paths=false)
	}
	e.handle(l, nil, rec, r, src.Addr().Unmap())
	if rec.reset {
		if s, ok := w.(*h2stream); ok {
			s.resetStream(http2.ErrCodeInternal)
			return
		}
		panic(http.ErrAbortHandler) // the net/http server resets the stream
	}
}

// handle serves one plaintext HTTP request on a listener: decide, then
// proxy (originating TLS where a DestinationRule asks) or refuse. h is the
// HTTP/1 connection it came on, nil for one from the net/http server. The
// configuration is read once per request, so a reload applies to the next
// request on a kept-alive connection.
func (e *Engine) handle(l *listener, h *h1conn, rec *recorder, r *http.Request, src netip.Addr) {
	start := time.Now()
	st := e.state.Load()
	rec.grpc = isGRPC(r)

	if n := headerBytes(r); n > e.cfg.MaxHeaderBytes {
		d := noDecision("request header limit")
		refuse(rec, http.StatusRequestHeaderFieldsTooLarge, "egressgw: request headers are "+strconv.Itoa(n)+
			" bytes, over the limit of "+strconv.Itoa(e.cfg.MaxHeaderBytes))
		e.logRequest(st, l, r, requestHost(r.Host), d, nil, rec, start)
		return
	}
	// Decide on, and forward, the same canonical Host and normalized path,
	// so that "ECHO.TEST." or "/public/../admin" cannot be decided as one
	// thing and read by the upstream as another.
	canon, problem := canonicalHost(r.Host, l.port)
	if problem != "" {
		e.badTarget(st, l, h, rec, r, "egressgw: invalid Host header: "+problem, start)
		return
	}
	r.Host = canon
	host := requestHost(canon)
	p, problem := normalizeTarget(r, e.cfg.PathNormalization)
	if problem != "" {
		e.badTarget(st, l, h, rec, r, "egressgw: invalid request path: "+problem, start)
		return
	}
	if l.side == route.Ingress {
		e.handleIngress(st, l, h, rec, r, host, p, src, start)
		return
	}
	q := rec.client.query(host, l.port, src)
	q.HTTP, q.Method, q.Path = true, r.Method, p
	d := st.snap.Policy.Decide(q)
	if d.Allow && e.cfg.PathNormalization < PathDecodeAndMergeSlashes && hasEscapedSlash(p) {
		d = stricterOnDecodedSlashes(st, q, d)
	}
	var u *upstream
	switch {
	case !d.Allow:
		deny(rec, d, host)
	case r.Method == http.MethodConnect:
		refuse(rec, http.StatusMethodNotAllowed, "egressgw: CONNECT is not supported: send the request itself (the gateway resolves and routes it by Host)")
	case e.routeEgress(st, l, h, rec, r, host, p, d, start):
		return
	default:
		u = st.lookupFor(d.Entry, l.port, &rec.client)
		switch {
		case u == nil:
			refuse(rec, http.StatusBadGateway, "egressgw: no upstream for "+host)
		case u.proxy == nil:
			refuse(rec, http.StatusBadRequest, "egressgw: port "+l.label+" of "+host+" is declared "+protocolName(u.port.Protocol)+
				" in "+u.entry.Source+": plain HTTP was sent; use TLS, or declare the port HTTP (with a DestinationRule to originate TLS)")
		case h != nil && (u.h1 != nil || u.h2 != nil) && !isUpgrade(r):
			h.roundTrip(u, rec, r, host)
		case h == nil && pooledH1(u, r, nil):
			e.forwardH1(u, rec, r, host, nil, false)
		default:
			u.proxy.ServeHTTP(rec, r)
		}
	}
	e.logRequest(st, l, r, host, d, u, rec, start)
}

// badTarget refuses a request whose Host or path is invalid (400), and
// closes an HTTP/1 connection after it.
func (e *Engine) badTarget(st *state, l *listener, h *h1conn, rec *recorder, r *http.Request, msg string, start time.Time) {
	if h != nil {
		h.closing = true
	}
	refuse(rec, http.StatusBadRequest, msg)
	e.logRequest(st, l, r, requestHost(r.Host), noDecision("malformed request"), nil, rec, start)
}

// stricterOnDecodedSlashes decides again on q's path with its escaped
// slashes (%2F, %5C) decoded, as an upstream that decodes them will read
// it, and returns the stricter of that and d, q's decision: below
// DECODE_AND_MERGE_SLASHES the path is forwarded as it came, but a rule on
// /admin/* must still refuse /admin%2Fusers. (Istio forwards it, and
// documents that such rules need DECODE_AND_MERGE_SLASHES.) Only paths
// with such an escape get here.
func stricterOnDecodedSlashes(st *state, q policy.Query, d policy.Decision) policy.Decision {
	decoded, problem := normalizePath(q.Path, PathDecodeAndMergeSlashes)
	if problem != "" || decoded == q.Path {
		return d
	}
	path := q.Path
	q.Path = decoded
	if dd := st.snap.Policy.Decide(q); !dd.Allow {
		dd.Reason += " (the path " + path + " was decided on as " + decoded + ", its escaped slashes decoded as an upstream may read them)"
		return dd
	}
	return d
}

// hasEscapedSlash reports whether the escaped path p has %2F or %5C (any case).
func hasEscapedSlash(p string) bool {
	for i := 0; i+2 < len(p); i++ {
		if p[i] == '%' && (p[i+1] == '2' && (p[i+2] == 'F' || p[i+2] == 'f') || p[i+1] == '5' && (p[i+2] == 'C' || p[i+2] == 'c')) {
			return true
		}
	}
	return false
}

// headerBytes is the size of the request line and headers as sent on the wire (HTTP/1.1 framing).
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len("Host: \r\n") + len(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

func deny(w *recorder, d policy.Decision, host string) {
	w.Header().Set("X-Egressgw-Rule", d.Rule)
	refuse(w, http.StatusForbidden, "egressgw: request to "+host+" denied by "+d.Rule+": "+d.Reason)
	w.note = d.Reason
}

func refuse(w *recorder, status int, msg string) {
	if w.grpc && status >= 400 {
		writeGRPCStatus(w, status, msg)
		if w.note == "" {
			w.note = msg
		}
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)+1))
	if status == http.StatusBadRequest || status == http.StatusRequestHeaderFieldsTooLarge {
		w.Header().Set("Connection", "close") // the client is confused about the protocol: start afresh
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
	if w.note == "" {
		w.note = msg
	}
}

func (e *Engine) logRequest(st *state, l *listener, r *http.Request, host string, d policy.Decision, u *upstream, rec *recorder, start time.Time) {
	hostLabel, cluster, upstreamAddr := "unregistered", "", ""
	if u != nil {
		hostLabel, cluster = u.host, u.cluster
	} else if d.Entry >= 0 {
		hostLabel = st.snap.Entries[d.Entry].Host
	}
	decision, rule := "allow", d.Rule
	if !d.Allow {
		decision = "deny"
	}
	if rec.rule != "" { // refused after the policy allowed it
		decision, rule = "deny", rec.rule
	}
	if u != nil && decision == "allow" && rec.status == http.StatusOK {
		u.served(e.metrics, l).Inc() // the common case, without hashing labels
	} else {
		e.metrics.Requests.WithLabelValues(l.side.String(), l.label, hostLabel, decision, statusLabel(rec.status)).Inc()
	}
	if rec.route != nil {
		st.routeServed(e.metrics, l.side, rec.server, rec.route, rec.status).Inc()
	}
	rec.client.count(e.metrics.SourceRequests, rec.client.counters, l.side, decision == "deny")
	if ce := e.access.Check(zap.InfoLevel, "request"); ce != nil {
		if u != nil {
			upstreamAddr = u.logAddr
			if upstreamAddr == "" {
				upstreamAddr = u.upstreamAddr(host)
			}
		}
		fp := logFields.Get().(*[]zap.Field)
		gw, vs, rt := "", "", ""
		if rec.server != nil {
			gw = rec.server.Gateway
		}
		if rec.route != nil {
			vs, rt = rec.route.VirtualService, rec.route.Name
		}
		ns, pod := rec.client.logFields()
		fields := append((*fp)[:0],
			zap.String("src", r.RemoteAddr), ns, pod, zap.String("direction", l.side.String()), zap.String("listener", l.label), zap.String("proto", r.Proto),
			zap.String("host", host), zap.String("method", r.Method), zap.String("path", logPath(r)),
			zap.Int("status", rec.status), zap.String("decision", decision), zap.String("rule", rule),
			zap.String("gateway", gw), zap.String("virtual_service", vs), zap.String("route", rt),
			zap.String("cluster", cluster), zap.String("upstream", upstreamAddr),
			zap.Int64("bytes_in", max(r.ContentLength, 0)), zap.Int64("bytes_out", rec.bytes),
			zap.Duration("duration", time.Since(start)),
		)
		if rec.note != "" {
			fields = append(fields, zap.String("reason", rec.note))
		}
		ce.Write(fields...)
		clear(fields) // drop references to this request's strings
		*fp = fields[:0]
		logFields.Put(fp)
	}
}

// logFields lends logRequest its field list (zap encodes the fields before Write returns).
var logFields = sync.Pool{New: func() any { f := make([]zap.Field, 0, 24); return &f }}

// upstreamAddr is how the access log names the upstream of a request for host.
func (u *upstream) upstreamAddr(host string) string {
	return u.scheme + "://" + hostOr(u.target.host, host) + ":" + u.portStr
}

func hostOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// requestHost returns the host of a Host header or SNI: lowercase, without
// port and trailing dot. It allocates only for upper-case input.
func requestHost(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.HasSuffix(h, "]") && strings.Count(h, ":") == 1 {
		h = h[:i]
	} else if strings.HasPrefix(h, "[") {
		if j := strings.IndexByte(h, ']'); j > 0 {
			h = h[1:j]
		}
	}
	h = strings.TrimSuffix(h, ".")
	for i := 0; i < len(h); i++ {
		if c := h[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(h)
		}
	}
	return h
}

func protocolName(p config.Protocol) string {
	switch p {
	case config.ProtocolHTTP:
		return "HTTP"
	case config.ProtocolTLS:
		return "HTTPS/TLS"
	case config.ProtocolTCP:
		return "TCP"
	}
	return "auto"
}

// statusLabel is code as a metric label, without allocating for a valid status.
func statusLabel(code int) string {
	if code >= 100 && code < len(statusTexts) {
		return statusTexts[code]
	}
	return strconv.Itoa(code)
}

// logPath is the path of r as the access log shows it: with its query, as
// Envoy's access log shows :path.
func logPath(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return r.URL.EscapedPath()
	}
	return r.URL.EscapedPath() + "?" + r.URL.RawQuery
}
