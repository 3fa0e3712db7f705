package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"

	"go.uber.org/zap"

	"github.com/egressgw/egressgw/netguard"
	"github.com/egressgw/egressgw/origination"
)

// newProxy builds the reverse proxy for one upstream: the outbound URL
// names the upstream (https when TLS is originated) while the Host header
// stays as the client sent it, as Istio does.
func (e *Engine) newProxy(u *upstream, rt http.RoundTripper) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			host := u.target.host
			if host == "" {
				host = requestHost(pr.In.Host)
			}
			pr.Out.URL.Scheme = u.scheme
			pr.Out.URL.Host = net.JoinHostPort(host, u.portStr)
			if rv, _ := pr.In.Context().Value(routeKey{}).(routed); rv.forwarded { // the gateway's own (ingress): Rewrite mode dropped them
				for _, k := range [...]string{"X-Forwarded-For", "X-Forwarded-Proto"} {
					if v := pr.In.Header[k]; v != nil {
						pr.Out.Header[k] = v
					}
				}
			}
		},
		Transport:    retryTransport{base: rt},
		BufferPool:   proxyBuffers,
		ErrorHandler: e.proxyError(u),
		ErrorLog:     zap.NewStdLog(e.log.Named("proxy")),
	}
}

// proxyError answers a failed round trip with a status and a body naming
// the cause: 502 for certificate and protocol problems, 503 when no
// connection could be made.
func (e *Engine) proxyError(u *upstream) func(http.ResponseWriter, *http.Request, error) {
	return func(w http.ResponseWriter, r *http.Request, err error) {
		rec, ok := w.(*recorder)
		if !ok {
			rec = &recorder{ResponseWriter: w}
		}
		if rv, _ := r.Context().Value(routeKey{}).(routed); rv.rt != nil && rv.rt.Timeout > 0 && errors.Is(err, context.DeadlineExceeded) {
			e.metrics.UpstreamFailures.WithLabelValues(string(origination.CauseTimeout)).Inc()
			rec.rule = ""
			rec.Header().Set("X-Egressgw-Error", "route_timeout")
			refuse(rec, http.StatusGatewayTimeout, "egressgw: upstream request timeout: "+routeRule(rv.rt)+" has timeout "+rv.rt.Timeout.String()+
				" and "+u.cluster+" did not answer within it")
			return
		}
		if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
			rec.status, rec.note = 499, "client went away"
			return
		}
		if passReset(rec, r, err) {
			return
		}
		e.upstreamError(u, rec, requestHost(r.Host), err)
	}
}

// upstreamError answers a request for host whose upstream exchange failed
// before the response began, or was refused by netguard before anything
// was sent upstream.
func (e *Engine) upstreamError(u *upstream, w *recorder, host string, err error) {
	status, cause := origination.Classify(err)
	var denied *netguard.DeniedError
	if cause == origination.CauseDenied && errors.As(err, &denied) {
		e.metrics.Guarded.WithLabelValues(denied.Class.Label()).Inc()
		w.rule = ruleNetguard
		w.Header().Set("X-Egressgw-Rule", ruleNetguard)
		refuse(w, status, "egressgw: request to "+host+" denied: "+deniedReason(denied, host))
		return
	}
	e.metrics.UpstreamFailures.WithLabelValues(string(cause)).Inc()
	msg := fmt.Sprintf("egressgw: %s: %s: %v", u.cluster, describeCause(cause), err)
	w.note = msg
	if w.grpc {
		w.Header().Set("X-Egressgw-Error", string(cause))
		writeGRPCStatus(w, status, msg)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.Header().Set("X-Egressgw-Error", string(cause))
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, msg)
}

// ruleNetguard is the rule a netguard refusal is logged with.
const ruleNetguard = "netguard"

// deniedReason says why d was refused, for a message that names host.
func deniedReason(d *netguard.DeniedError, host string) string {
	if d.Host != "" && d.Host != host { // an ExternalName's target, a DNS endpoint
		return d.Error()
	}
	return d.Reason()
}

func describeCause(c origination.Cause) string {
	switch c {
	case origination.CauseTLSVerify:
		return "upstream TLS certificate verification failed"
	case origination.CauseTLSHandshake:
		return "upstream TLS handshake failed"
	case origination.CauseRefused, origination.CauseUnreachable:
		return "cannot connect to upstream"
	case origination.CauseTimeout:
		return "upstream connect timed out"
	case origination.CauseDNS:
		return "cannot resolve upstream"
	case origination.CauseLoop:
		return "refused a request loop"
	}
	return "upstream failed"
}

// copyBufferSize is the size of the buffers copyBuffers lends.
const copyBufferSize = 32 << 10

// copyBuffers lends 32 KiB copy buffers; proxyBuffers lends them to every
// reverse proxy, whose interface takes slices (so its Put allocates).
var (
	copyBuffers  = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}
	proxyBuffers = &bufferPool{p: &copyBuffers}
)

type bufferPool struct{ p *sync.Pool }

func getBuffer() *[]byte  { return copyBuffers.Get().(*[]byte) }
func putBuffer(b *[]byte) { copyBuffers.Put(b) }

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }
