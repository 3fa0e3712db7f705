package egress

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"

	"golang.org/x/net/http/httpguts"

	"github.com/egressgw/egressgw/origination"
	"github.com/egressgw/egressgw/route"
)

// pooledH1 reports whether a request that came without an h1conn (an
// HTTP/2 client's stream) goes to u over the HTTP/1.1 pool by forwardH1,
// rather than through u's ReverseProxy and http.Transport: u speaks
// HTTP/1.1 only, and nothing the ReverseProxy path does is asked for (a
// protocol upgrade, a route timeout or per-try timeout).
func pooledH1(u *upstream, r *http.Request, rt *route.HTTPRoute) bool {
	return u.h1 != nil && u.h2 == nil && !isUpgrade(r) && !timed(rt)
}

// timed reports whether rt sets a timeout or a per-try timeout, which only
// the ReverseProxy path (retryTransport, a context deadline) applies.
func timed(rt *route.HTTPRoute) bool {
	return rt != nil && (rt.Timeout > 0 || rt.Retries.PerTryTimeout > 0)
}

// forwardH1 proxies r to u over a pooled HTTP/1.1 connection and writes
// the answer to rec, an http.ResponseWriter of a server other than h1conn
// (HTTP/2 clients): the same exchange as h1conn.roundTrip, without the
// goroutines and channels of http.Transport. retries is the route's
// policy (nil: egressgw's own, reused connections only); fwd forwards the
// gateway's own X-Forwarded headers (ingress).
func (e *Engine) forwardH1(u *upstream, rec *recorder, r *http.Request, host string, retries *route.Retries, fwd bool) {
	if u.target.host != "" {
		host = u.target.host // as roundTrip: the connection goes to the target's name
	}
	pool := u.h1
	replayable := (r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0) && isIdempotent(r.Method)
	ctx := r.Context()
	for try := 0; ; try++ {
		uc, err := pooledConn(ctx, pool, host, !replayable)
		if err != nil {
			if ctx.Err() == nil && retryConnect(retries, try) && backoff(ctx, try) {
				continue
			}
			e.forwardFailed(u, rec, r, host, nil, err)
			return
		}
		stop := context.AfterFunc(ctx, func() { _ = uc.Close() }) // the client went away: so does the exchange
		resp, clientErr, err := exchangeH1(uc, pool, r, fwd)
		if err != nil && clientErr == nil && uc.Reused && replayable && closedByPeer(err) && ctx.Err() == nil {
			stop()
			_ = uc.Close()
			if uc, err = pool.Dial(ctx, host); err == nil {
				stop = context.AfterFunc(ctx, func() { _ = uc.Close() })
				resp, clientErr, err = exchangeH1(uc, pool, r, fwd)
			}
		}
		if err == nil && clientErr == nil && replayable && retryStatus(retries, try, resp.StatusCode) {
			stop()
			_ = uc.Close()
			if backoff(ctx, try) {
				continue
			}
			rec.status, rec.note = 499, "client went away while the request was retried"
			return
		}
		if err != nil || clientErr != nil {
			stop()
			if uc != nil {
				_ = uc.Close()
			}
			e.forwardFailed(u, rec, r, host, clientErr, err)
			return
		}
		whole := relayToWriter(rec, resp)
		if stop() && whole && !resp.Close && pool.KeepAlive(uc) {
			pool.Put(uc)
		} else {
			_ = uc.Close()
		}
		return
	}
}

// pooledConn takes a pooled connection, or a new one. With check, a reused
// connection is first checked for having been closed meanwhile.
func pooledConn(ctx context.Context, pool *origination.H1Pool, host string, check bool) (*origination.H1Conn, error) {
	for range 3 {
		uc, err := pool.Get(ctx, host)
		if err != nil || !uc.Reused || !check || uc.Alive() {
			return uc, err
		}
		_ = uc.Close()
	}
	return pool.Dial(ctx, host)
}

// exchangeH1 writes r to uc and reads the final response head (interim
// ones are dropped: the client's server answers Expect itself). clientErr
// is set when reading the request body failed.
func exchangeH1(uc *origination.H1Conn, pool *origination.H1Pool, r *http.Request, fwd bool) (resp *http.Response, clientErr, err error) {
	if clientErr, err := sendRequest(uc, pool, r, fwd, nothingBuffered{}); clientErr != nil || err != nil {
		return nil, clientErr, err
	}
	uc.LimitHead()
	defer uc.Unlimit()
	var body responseBody
	for interim := 0; ; interim++ {
		if resp, err = readResponseHead(uc.R, r, &body); err != nil || resp.StatusCode >= 200 {
			return resp, nil, err
		}
		if resp.StatusCode == http.StatusSwitchingProtocols || interim == maxInterim {
			return nil, nil, errors.New("the upstream sent an unexpected informational response (" + resp.Status + ")")
		}
	}
}

// sendRequest writes r to uc: its head, its body read from r.Body (pending
// is the reader under it, see pump) and, when chunked, its trailers; then
// flushes. clientErr is set when reading the body failed, err when writing
// to the upstream did.
func sendRequest(uc *origination.H1Conn, pool *origination.H1Pool, r *http.Request, fwd bool, pending buffered) (clientErr, err error) {
	w := uc.W
	writeRequestHead(w, r, !pool.KeepAlive(uc), fwd)
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		buf := getBuffer()
		_, rerr, werr := pump(w, r.Body, pending, r.ContentLength < 0, r.ContentLength, *buf)
		putBuffer(buf)
		switch {
		case rerr != nil:
			return rerr, nil
		case werr != nil:
			return nil, werr
		}
		if r.ContentLength < 0 {
			writeLastChunk(w, r.Trailer)
		}
	}
	return nil, w.Flush()
}

// nothingBuffered is the pending reader of a request body whose source
// says nothing of what it holds: pump flushes after every read.
type nothingBuffered struct{}

func (nothingBuffered) Buffered() int { return 0 }

// relayToWriter writes resp to rec: its end-to-end headers, the status,
// the body and its trailers. It reports whether the body was read whole,
// so that the connection may serve again.
func relayToWriter(rec *recorder, resp *http.Response) (whole bool) {
	hdr := rec.Header()
	conn := resp.Header["Connection"]
	for k, vs := range resp.Header {
		if responseHopHeader(k) || k == "Trailer" || conn != nil && httpguts.HeaderValuesContainsToken(conn, k) {
			continue
		}
		hdr[k] = vs
	}
	if resp.Header["Content-Length"] == nil && resp.ContentLength >= 0 && !bodylessStatus(resp.StatusCode) {
		hdr["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
	}
	rec.WriteHeader(resp.StatusCode)
	buf := getBuffer()
	_, err := io.CopyBuffer(writerOnly{rec}, resp.Body, *buf)
	putBuffer(buf)
	if err != nil {
		rec.note = "the response was cut short: " + err.Error()
		return false
	}
	for k, vs := range resp.Trailer {
		hdr[http.TrailerPrefix+k] = vs
	}
	return true
}

// writerOnly hides rec's other methods from io.CopyBuffer (ReadFrom).
type writerOnly struct{ io.Writer }

// forwardFailed answers a request whose exchange failed before its
// response began.
func (e *Engine) forwardFailed(u *upstream, rec *recorder, r *http.Request, host string, clientErr, err error) {
	switch {
	case r.Context().Err() != nil:
		rec.status, rec.note = 499, "client went away while waiting for the upstream"
	case clientErr != nil:
		refuse(rec, http.StatusBadRequest, "egressgw: cannot read the request body: "+clientErr.Error())
	default:
		e.upstreamError(u, rec, host, err)
	}
}
