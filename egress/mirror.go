package egress

import (
	"bytes"
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
// must never slow or hold the request it copies). maxMirrorBody is the
// largest request body buffered for a copy: a request with a longer body
// (declared, or read so far when its length is unknown) is not mirrored.
const (
	mirrorTimeout = 10 * time.Second
	maxMirrors    = 256
	maxMirrorBody = 64 << 10
)

// mirror sends a copy of r to u, as Envoy's request mirroring does: the
// Host gets the suffix "-shadow", the answer is dropped. A body of at most
// maxMirrorBody is read first (h, when the request came over the gateway's
// own HTTP/1 loop, answers a client's Expect: 100-continue) and r is given
// the same bytes to send; a longer one leaves r streaming as it would have,
// and the copy is skipped and counted.
func (e *Engine) mirror(u *upstream, h *h1conn, r *http.Request, host string, rt *route.HTTPRoute) {
	body, skip := mirrorBody(h, r)
	if skip != "" {
		e.metrics.Mirrors.WithLabelValues(skip).Inc()
		return
	}
	select {
	case e.mirrors <- struct{}{}:
	default:
		e.metrics.Mirrors.WithLabelValues("dropped").Inc()
		return
	}
	ctx, cancel := context.WithTimeout(e.stop, mirrorTimeout)
	out := r.Clone(ctx)
	out.Body, out.ContentLength, out.TransferEncoding, out.RequestURI = http.NoBody, 0, nil, ""
	if len(body) > 0 {
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
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

// mirrorBody reads r's body for a mirrored copy and puts back for r a body
// giving the same bytes (then the rest of the original, or the error
// reading it gave). skip, when not empty, is why there is no copy: the
// metric's result "skipped_body_too_large" for a body longer than
// maxMirrorBody, "failed" when reading it failed.
func mirrorBody(h *h1conn, r *http.Request) (body []byte, skip string) {
	if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
		return nil, ""
	}
	if r.ContentLength > maxMirrorBody {
		return nil, "skipped_body_too_large"
	}
	if h != nil {
		if err := h.continueBody(r); err != nil {
			return nil, "failed"
		}
	}
	// The body is in hand: the upstream need not be asked to continue (nor
	// the client told twice).
	delete(r.Header, "Expect")
	orig := r.Body
	var b bytes.Buffer
	if r.ContentLength > 0 {
		b.Grow(int(r.ContentLength) + bytes.MinRead)
	}
	_, err := b.ReadFrom(io.LimitReader(orig, maxMirrorBody+1))
	switch {
	case err != nil:
		r.Body = &replayBody{Reader: io.MultiReader(&b, errReader{err}), orig: orig}
		return nil, "failed"
	case b.Len() > maxMirrorBody:
		r.Body = &replayBody{Reader: io.MultiReader(&b, orig), orig: orig}
		return nil, "skipped_body_too_large"
	}
	body = b.Bytes()
	r.Body = &replayBody{Reader: bytes.NewReader(body), orig: orig}
	return body, ""
}

// replayBody is a request body read ahead (for a mirrored copy): Reader
// gives the same bytes; Close closes the original.
type replayBody struct {
	io.Reader
	orig io.ReadCloser
}

func (b *replayBody) Close() error { return b.orig.Close() }

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

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
