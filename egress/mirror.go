package egress

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/egressgw/egressgw/route"
)

// mirrorTimeout bounds one mirrored request; maxMirrors bounds how many are
// in flight at once (beyond it a mirror is dropped and counted: the copy
// must never slow or hold the request it copies).
const (
	mirrorTimeout = 10 * time.Second
	maxMirrors    = 256
)

// mirror sends a copy of r (which has no body: a body is never buffered
// for a copy) to u, as Envoy's request mirroring does: the Host gets the
// suffix "-shadow", the answer is dropped.
func (e *Engine) mirror(u *upstream, r *http.Request, host string, rt *route.HTTPRoute) {
	select {
	case e.mirrors <- struct{}{}:
	default:
		e.metrics.Mirrors.WithLabelValues("dropped").Inc()
		return
	}
	ctx, cancel := context.WithTimeout(e.stop, mirrorTimeout)
	out := r.Clone(ctx)
	out.Body, out.ContentLength, out.RequestURI = http.NoBody, 0, ""
	out.URL.Scheme = u.scheme
	out.URL.Host = net.JoinHostPort(hostOr(u.target.host, host), u.portStr)
	out.Host = mirrorHost(r.Host)
	go func() {
		defer func() { <-e.mirrors }()
		defer cancel()
		resp, err := u.proxy.Transport.RoundTrip(out)
		if err != nil {
			e.metrics.Mirrors.WithLabelValues("failed").Inc()
			if ce := e.log.Check(zap.DebugLevel, "mirrored request failed"); ce != nil {
				ce.Write(zap.String("route", routeRule(rt)), zap.String("cluster", u.cluster), zap.Error(err))
			}
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		e.metrics.Mirrors.WithLabelValues("sent").Inc()
	}()
}

// mirrorHost is the Host of a mirrored request: the host with "-shadow" appended, its port kept.
func mirrorHost(h string) string {
	if i := len(h) - 1; i > 0 {
		for j := i; j > 0 && h[j] >= '0' && h[j] <= '9'; j-- {
			if h[j-1] == ':' {
				return h[:j-1] + "-shadow" + h[j-1:]
			}
		}
	}
	return h + "-shadow"
}
