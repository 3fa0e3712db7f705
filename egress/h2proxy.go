package egress

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"

	"github.com/egressgw/egressgw/origination"
)

// roundTripH2 proxies r over a stream of a pooled HTTP/2 connection to u
// and copies the response back to the client, on the calling goroutine.
// It reports false, having sent nothing, when the upstream declined
// HTTP/2 by ALPN; the caller then uses HTTP/1.1.
//
// A request the upstream did not process is sent again on another
// connection, up to h2Retries times, as Go's http2.Transport does: one
// refused unprocessed (REFUSED_STREAM, or above a GOAWAY's last stream
// ID, as an upstream that retires connections after a number of requests
// sends), and an idempotent one whose connection ended before any of its
// response arrived. Its body must be at hand again: none, or one that fits
// a copy buffer (32 KiB), which is read whole before the request goes out
// for that purpose, as Envoy buffers a body it may retry.
func (h *h1conn) roundTripH2(u *upstream, rec *recorder, r *http.Request, host string) bool {
	c, err := u.h2.Get(h.e.stop, host)
	if errors.Is(err, origination.ErrNoHTTP2) {
		return false // before h2Request edits r's headers for HTTP/2
	}
	expect := r.Header["Expect"] // h2Request removes it; continueH2 answers it
	req := h2Request(u, r, h.forwarded)
	var s *origination.H2Stream
	var resp *http.Response
	var clientErr error
	var body []byte // the whole body, when read before sending
	read := !(r.ContentLength > 0 && r.ContentLength <= copyBufferSize)
	for try := 0; ; try++ {
		if err == nil {
			s, err = c.Open(&req)
		}
		if err == nil && !read {
			read = true
			buf := getBuffer()
			defer putBuffer(buf)
			if clientErr = h.continueH2(r, expect); clientErr == nil {
				body = (*buf)[:r.ContentLength]
				_, clientErr = io.ReadFull(r.Body, body)
			}
		}
		sent := err == nil && clientErr == nil // the body, if any, is being sent
		if sent {
			resp, clientErr, err = h.exchangeH2(s, r, body, expect)
		}
		if err == nil || clientErr != nil || !h2Retryable(r, !sent || body != nil, err) || try == h2Retries {
			break
		}
		gone := h.watch.stop()
		if s != nil {
			_ = s.Close()
			s = nil
		}
		if gone || !h.h2Backoff(try) {
			break
		}
		c, err = u.h2.Get(h.e.stop, host)
	}
	if err == nil && clientErr == nil {
		if resp.ContentLength >= 0 && resp.Header["Trailer"] != nil && h.proto11 {
			// Trailers announced beside a length: only a chunked body can
			// carry them to an HTTP/1.1 client (the length would drop them).
			resp.ContentLength = -1
		}
		h.relayResponse(rec, resp, s)
		_ = s.Close()
		return true
	}
	if s != nil {
		_ = s.Close()
	}
	h.exchangeFailed(u, rec, host, clientErr, err)
	return true
}

// h2Retries bounds how many times a request the upstream did not process
// is sent again (Go's http2.Transport: 6).
const h2Retries = 6

// h2Retryable reports whether a request that failed with err may be sent
// again: the upstream did not process it, or it is idempotent and got no
// response at all; and its body, if any, is at hand (bodyKept: kept
// whole, or not sent yet).
func h2Retryable(r *http.Request, bodyKept bool, err error) bool {
	if r.ContentLength != 0 && !bodyKept {
		return false
	}
	var nr *origination.NoResponseError
	return refused(err) || errors.As(err, &nr) && (nr.Unprocessed() || isIdempotent(r.Method))
}

// h2Backoff waits before retry try+1: not at all before the first, then
// 10 ms doubling (at most 310 ms in all), as a refusing upstream
// deserves. It reports false if the gateway is stopping.
func (h *h1conn) h2Backoff(try int) bool {
	if try == 0 {
		return h.e.stop.Err() == nil
	}
	t := time.NewTimer(10 * time.Millisecond << (try - 1))
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-h.e.stop.Done():
		return false
	}
}

// h2Request is the HTTP/2 head of r: its end-to-end headers (hop-by-hop
// ones are removed from r.Header) and the authority the client named.
func h2Request(u *upstream, r *http.Request, fwd bool) origination.H2Request {
	te := httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers")
	conn := r.Header["Connection"]
	for k := range r.Header {
		if !endToEnd(k, conn) && !(fwd && (k == "X-Forwarded-For" || k == "X-Forwarded-Proto")) {
			delete(r.Header, k)
		}
	}
	if len(r.Trailer) > 0 {
		// ReadRequest moved the announcement into r.Trailer; HTTP/2
		// servers (Go's among them) drop trailers not announced.
		names := make([]string, 0, len(r.Trailer))
		for k := range r.Trailer {
			names = append(names, k)
		}
		r.Header["Trailer"] = []string{strings.Join(names, ", ")}
	}
	cl := int64(-1)
	if r.ContentLength > 0 || r.ContentLength == 0 && bodyMethod(r.Method) {
		cl = r.ContentLength
	}
	return origination.H2Request{
		Method: r.Method, Scheme: u.scheme, Authority: r.Host, Path: r.URL.RequestURI(),
		Header: r.Header, TETrailers: te, ContentLength: cl, EndStream: r.ContentLength == 0,
	}
}

// exchangeH2 sends r's body on s (body, if it was read already) and
// reads the response head, as exchange does for HTTP/1.1; expect is the
// client's Expect header.
func (h *h1conn) exchangeH2(s *origination.H2Stream, r *http.Request, body []byte, expect []string) (resp *http.Response, clientErr, err error) {
	if r.ContentLength != 0 {
		if body != nil {
			_, err = s.Write(body)
		} else if clientErr = h.continueH2(r, expect); clientErr == nil {
			buf := getBuffer()
			clientErr, err = sendBody(s, r.Body, *buf)
			putBuffer(buf)
		}
		if clientErr != nil || err != nil {
			return nil, clientErr, err
		}
		if err := s.CloseSend(r.Trailer); err != nil {
			return nil, nil, err
		}
	}
	h.watch.start(s)
	return h.finalResponse(s.ReadResponse)
}

// continueH2 answers the client's Expect header (expect), which
// h2Request removed from r.Header so that the stream would not send it:
// continueBody sends 100 Continue if the client waits for it.
func (h *h1conn) continueH2(r *http.Request, expect []string) error {
	if expect == nil {
		return nil
	}
	r.Header["Expect"] = expect
	defer delete(r.Header, "Expect") // a retry's HEADERS go without it too
	return h.continueBody(r)
}

// sendBody copies body to the stream.
func sendBody(s *origination.H2Stream, body io.Reader, buf []byte) (rerr, werr error) {
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr = s.Write(buf[:n]); werr != nil {
				return nil, werr
			}
		}
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return err, nil
		}
	}
}

func refused(err error) bool {
	if err == nil {
		return false
	}
	var re *origination.StreamResetError
	return errors.As(err, &re) && re.Refused()
}

// passReset has the stream of an HTTP/2 client reset, instead of answered
// 502, when the upstream reset the request's stream before its response
// head (a gRPC server whose deadline passed sends CANCEL): what the client
// would have seen without the gateway. net/http's server resets it with
// INTERNAL_ERROR, the only code a handler can have it send; the access
// log names the upstream's. It reports whether it did.
func passReset(rec *recorder, r *http.Request, err error) bool {
	var se http2.StreamError // net/http's bundled copy converts to it (its As method)
	if r.ProtoMajor != 2 || !errors.As(err, &se) || se.Cause == nil || se.Cause.Error() != "received from peer" {
		return false
	}
	rec.status, rec.reset = http.StatusBadGateway, true // for the log and metrics: the upstream failed the request
	rec.note = "the upstream reset the HTTP/2 stream (" + se.Code.String() + "); the client's stream was reset"
	return true
}
