package egress

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"strconv"
	"syscall"

	"golang.org/x/net/http/httpguts"

	"github.com/egressgw/egressgw/origination"
)

// maxInterim bounds the 1xx responses taken before the final one, as net/http's Transport does.
const maxInterim = 5

// roundTrip proxies r to u over a pooled HTTP/1.1 connection and copies
// the response back to the client, all on the calling goroutine. A request
// that needs no body and is safe to repeat is retried once on a new
// connection when a reused one turns out to have been closed by the
// upstream; other requests check a reused connection before using it.
func (h *h1conn) roundTrip(u *upstream, rec *recorder, r *http.Request, host string) {
	if u.target.host != "" {
		// Connections go to the target's name (an ExternalName's
		// externalName): it is the TLS server name and what the upstream
		// certificate must name, as on the Transport path, whose URL has it.
		host = u.target.host
	}
	if u.h2 != nil && u.h2.Usable() && h.roundTripH2(u, rec, r, host) {
		return
	}
	pool := u.h1
	if pool == nil {
		h.e.upstreamError(u, rec, host, origination.ErrNoHTTP2)
		return
	}
	replayable := r.ContentLength == 0 && isIdempotent(r.Method)
	for try := 0; ; try++ {
		uc, err := h.upstreamConn(pool, host, !replayable)
		if err != nil {
			if retryConnect(h.retries, try) && h.retryBackoff(try) {
				continue
			}
			h.e.upstreamError(u, rec, host, err)
			return
		}
		resp, clientErr, err := h.exchange(uc, pool, r)
		if err != nil && clientErr == nil && uc.Reused && replayable && closedByPeer(err) {
			_ = uc.Close()
			if uc, err = pool.Dial(h.e.stop, host); err == nil {
				resp, clientErr, err = h.exchange(uc, pool, r)
			}
		}
		if err == nil && clientErr == nil && r.ContentLength == 0 && retryStatus(h.retries, try, resp.StatusCode) {
			// The route retries this status: the answer is dropped (with
			// its connection, rather than reading a body nobody wants).
			_ = uc.Close()
			if !h.watch.stop() && h.retryBackoff(try) {
				continue
			}
			h.closing, h.dead = true, true
			rec.status, rec.note = 499, "client went away while the request was retried"
			return
		}
		if err == nil && clientErr == nil {
			// relayResponse ends the watch exchange started.
			if h.relayResponse(rec, resp, uc.R) && !resp.Close && pool.KeepAlive(uc) {
				pool.Put(uc)
			} else {
				_ = uc.Close()
			}
			return
		}
		if uc != nil {
			_ = uc.Close()
		}
		h.exchangeFailed(u, rec, host, clientErr, err)
		return
	}
}

// retryBackoff waits before retry try+1 as Envoy does (a random time up to
// 25 ms doubled per retry, capped at 250 ms); false if the gateway stops meanwhile.
func (h *h1conn) retryBackoff(try int) bool {
	return backoff(h.e.stop, try)
}

// exchangeFailed answers a request whose exchange with the upstream
// failed before its response began, and ends the client watch.
func (h *h1conn) exchangeFailed(u *upstream, rec *recorder, host string, clientErr, err error) {
	gone := h.watch.stop()
	switch {
	case gone:
		h.closing, h.dead = true, true
		rec.status, rec.note = 499, "client went away while waiting for the upstream"
	case errors.Is(clientErr, io.ErrUnexpectedEOF) || errors.Is(clientErr, io.EOF):
		h.closing, h.dead = true, true
		rec.status, rec.note = 499, "client went away while sending the request body"
	case errors.Is(clientErr, errBodyIdle):
		h.closing = true
		refuse(rec, http.StatusRequestTimeout, "egressgw: "+clientErr.Error())
	case clientErr != nil:
		h.closing = true
		refuse(rec, http.StatusBadRequest, "egressgw: cannot read the request body: "+clientErr.Error())
	default:
		h.e.upstreamError(u, rec, host, err)
	}
}

// upstreamConn takes a pooled connection, or a new one. With check, a
// reused connection is first checked for having been closed meanwhile.
func (h *h1conn) upstreamConn(pool *origination.H1Pool, host string, check bool) (*origination.H1Conn, error) {
	return pooledConn(h.e.stop, pool, host, check)
}

// exchange writes r to uc and reads the response head. clientErr is set
// when reading the request body from the client failed. Once the request
// is out it starts watching the client (h.watch), which the caller stops.
func (h *h1conn) exchange(uc *origination.H1Conn, pool *origination.H1Pool, r *http.Request) (resp *http.Response, clientErr, err error) {
	if r.ContentLength != 0 {
		if err := h.continueBody(r); err != nil {
			return nil, err, nil
		}
	}
	if clientErr, err := sendRequest(uc, pool, r, h.forwarded, h.pr.br); clientErr != nil || err != nil {
		return nil, clientErr, err
	}
	h.watch.start(uc)
	uc.LimitHead()
	defer uc.Unlimit()
	return h.finalResponse(func() (*http.Response, error) { return h.readResponse(uc.R, r) })
}

// continueBody sends 100 Continue to a client that waits for it before
// sending the body the proxy is about to read.
func (h *h1conn) continueBody(r *http.Request) error {
	if !h.proto11 || !httpguts.HeaderValuesContainsToken(r.Header["Expect"], "100-continue") {
		return nil
	}
	h.sentContinue = true
	_, _ = h.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
	return h.bw.Flush()
}

// finalResponse reads response heads with next until the final one,
// passing informational ones other than 100 Continue on to the client.
// clientErr is set when writing to the client failed.
func (h *h1conn) finalResponse(next func() (*http.Response, error)) (resp *http.Response, clientErr, err error) {
	for interim := 0; ; interim++ {
		resp, err = next()
		switch {
		case err != nil || resp.StatusCode >= 200:
			return resp, nil, err
		case resp.StatusCode == http.StatusSwitchingProtocols: // upgrades take the ReverseProxy path: this one was not asked for
			return nil, nil, errors.New("the upstream switched protocols (101) without being asked to")
		}
		if interim == maxInterim {
			return nil, nil, errors.New("the upstream sent more than " + strconv.Itoa(maxInterim) + " informational (1xx) responses")
		}
		if resp.StatusCode != http.StatusContinue && h.proto11 { // 103 Early Hints and the like go on to the client
			h.writeHead(resp.StatusCode, resp.Header, false)
			if err := h.bw.Flush(); err != nil {
				return nil, err, nil
			}
		}
	}
}

// buffered is the reader under a response body: how much it holds that
// can be read without waiting.
type buffered interface{ Buffered() int }

// relayResponse writes resp to the client, reading its body through
// pending, and ends the client watch. It reports whether the body was
// relayed whole, so that the upstream connection may serve again.
func (h *h1conn) relayResponse(rec *recorder, resp *http.Response, pending buffered) (whole bool) {
	rec.status = resp.StatusCode
	rec.editResponse(resp.Header)
	h.bodyless = h.bodyless || bodylessStatus(resp.StatusCode)
	cl := resp.ContentLength
	if !h.bodyless && cl < 0 {
		if h.proto11 {
			h.chunked = true
		} else {
			h.closing = true
		}
	}
	if h.e.stop.Err() != nil {
		h.closing = true
	}
	bw := h.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.WriteString(resp.Status)
	_, _ = bw.WriteString("\r\n")
	writeResponseHeaders(bw, resp.Header, !h.bodyless && cl < 0, h.chunked)
	if !h.bodyless && cl >= 0 && resp.Header["Content-Length"] == nil {
		_, _ = bw.WriteString("Content-Length: ")
		_, _ = bw.Write(strconv.AppendInt(bw.AvailableBuffer(), cl, 10))
		_, _ = bw.WriteString("\r\n")
	}
	h.endHead()

	whole = true
	if h.bodyless {
		h.watch.stop()
	} else {
		buf := getBuffer()
		n, rerr, werr := pump(bw, resp.Body, pending, h.chunked, cl, *buf)
		gone := h.watch.stop()
		putBuffer(buf)
		rec.bytes = n
		switch {
		case gone:
			rec.note = "client went away during the response"
			h.closing, h.chunked, whole, h.dead = true, false, false, true
		case rerr != nil:
			rec.note = "the upstream broke off the response: " + rerr.Error()
			h.closing, h.chunked, whole = true, false, false // the client sees the body end early
		case werr != nil:
			rec.note = "client went away during the response: " + werr.Error()
			h.closing, h.chunked, whole = true, false, false
		}
		if h.chunked {
			writeLastChunk(bw, resp.Trailer)
			h.chunked = false
		}
	}
	return whole
}

// pump copies src to dst, framing each piece as a chunk when chunked,
// until src ends or, with limit >= 0, limit bytes were copied. It flushes
// dst whenever the reader under src (pending) has nothing buffered, since
// the next read may wait: a streamed body goes on as it comes, and a small
// one leaves in a single write together with its head.
func pump(dst *bufio.Writer, src io.Reader, pending buffered, chunked bool, limit int64, buf []byte) (n int64, rerr, werr error) {
	for limit < 0 || n < limit {
		m, err := src.Read(buf)
		if m > 0 {
			if chunked {
				writeChunkHeader(dst, m)
			}
			if _, werr = dst.Write(buf[:m]); werr != nil {
				return n, nil, werr
			}
			if chunked {
				_, _ = dst.WriteString("\r\n")
			}
			n += int64(m)
		}
		if err != nil {
			if err != io.EOF {
				rerr = err
			} else if limit >= 0 && n < limit {
				rerr = io.ErrUnexpectedEOF
			}
			return n, rerr, nil
		}
		if pending.Buffered() == 0 && (limit < 0 || n < limit) {
			if werr = dst.Flush(); werr != nil {
				return n, nil, werr
			}
		}
	}
	return n, nil, nil
}

// writeRequestHead writes r's request line and end-to-end headers as
// HTTP/1.1, with the body framing of r. The Host header is the client's;
// hop-by-hop headers and the X-Forwarded set are not forwarded, as
// httputil.ReverseProxy in Rewrite mode does.
// With fwd, the X-Forwarded-For and X-Forwarded-Proto the gateway set
// (a route's destination: ingress) are forwarded too.
func writeRequestHead(w *bufio.Writer, r *http.Request, close, fwd bool) {
	_, _ = w.WriteString(r.Method)
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(r.URL.RequestURI())
	_, _ = w.WriteString(" HTTP/1.1\r\nHost: ")
	_, _ = w.WriteString(r.Host)
	_, _ = w.WriteString("\r\n")
	conn := r.Header["Connection"]
	for k, vs := range r.Header {
		if endToEnd(k, conn) || fwd && (k == "X-Forwarded-For" || k == "X-Forwarded-Proto") {
			writeHeader(w, k, vs)
		}
	}
	if httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers") {
		_, _ = w.WriteString("Te: trailers\r\n")
	}
	switch {
	case r.ContentLength > 0 || r.ContentLength == 0 && (r.Header["Content-Length"] != nil || bodyMethod(r.Method)):
		_, _ = w.WriteString("Content-Length: ")
		_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), r.ContentLength, 10))
		_, _ = w.WriteString("\r\n")
	case r.ContentLength < 0:
		_, _ = w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if close {
		_, _ = w.WriteString("Connection: close\r\n")
	}
	_, _ = w.WriteString("\r\n")
}

// writeResponseHeaders writes the end-to-end headers of a response; it
// drops Content-Length when the length is unknown and keeps the Trailer
// announcement only for a chunked body.
func writeResponseHeaders(w *bufio.Writer, hdr http.Header, unknownLength, chunked bool) {
	conn := hdr["Connection"]
	for k, vs := range hdr {
		switch {
		case k == "Trailer":
			if !chunked {
				continue
			}
		case responseHopHeader(k), unknownLength && k == "Content-Length",
			conn != nil && httpguts.HeaderValuesContainsToken(conn, k):
			continue
		}
		writeHeader(w, k, vs)
	}
}

// endToEnd reports whether request header k is forwarded: not hop-by-hop,
// nor named in the request's Connection header (conn).
func endToEnd(k string, conn []string) bool {
	return !requestHopHeader(k) && (conn == nil || !httpguts.HeaderValuesContainsToken(conn, k))
}

func requestHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer",
		"Transfer-Encoding", "Upgrade", "Content-Length", "Expect", "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
		return true
	}
	return false
}

func responseHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te",
		"Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

func writeHeader(w *bufio.Writer, k string, vs []string) {
	for _, v := range vs {
		_, _ = w.WriteString(k)
		_, _ = w.WriteString(": ")
		_, _ = w.WriteString(v)
		_, _ = w.WriteString("\r\n")
	}
}

// writeHeaders writes every header of hdr.
func writeHeaders(w *bufio.Writer, hdr http.Header) {
	for k, vs := range hdr {
		writeHeader(w, k, vs)
	}
}

func writeStatus(w *bufio.Writer, code int) {
	_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(code), 10))
	_ = w.WriteByte(' ')
	_, _ = w.WriteString(http.StatusText(code))
	_, _ = w.WriteString("\r\n")
}

func writeChunkHeader(w *bufio.Writer, n int) {
	_, _ = w.Write(strconv.AppendInt(w.AvailableBuffer(), int64(n), 16))
	_, _ = w.WriteString("\r\n")
}

func writeLastChunk(w *bufio.Writer, trailer http.Header) {
	_, _ = w.WriteString("0\r\n")
	writeHeaders(w, trailer)
	_, _ = w.WriteString("\r\n")
}

// bodylessStatus: responses with this status carry no body, whatever their headers say.
func bodylessStatus(code int) bool {
	return code < 200 || code == http.StatusNoContent || code == http.StatusNotModified
}

func isIdempotent(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions || m == http.MethodTrace
}

// bodyMethod: methods whose empty body is still announced with Content-Length: 0, as Go's client does.
func bodyMethod(m string) bool {
	return m == http.MethodPost || m == http.MethodPut || m == http.MethodPatch
}

func isUpgrade(r *http.Request) bool {
	return r.Header["Upgrade"] != nil && httpguts.HeaderValuesContainsToken(r.Header["Connection"], "upgrade")
}

// closedByPeer reports an error that a reused connection gives when the
// upstream closed it while it sat idle.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
