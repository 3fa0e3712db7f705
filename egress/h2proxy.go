package egress

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/egressgw/egressgw/origination"
)

// roundTripH2 proxies r over a stream of a pooled HTTP/2 connection to u
// and copies the response back to the client, on the calling goroutine.
// It reports false, having sent nothing, when the upstream declined
// HTTP/2 by ALPN; the caller then uses HTTP/1.1. A request is sent again
// on another connection when the upstream refused its stream unprocessed
// (REFUSED_STREAM, or a GOAWAY below its ID, as an upstream that retires
// connections after a number of requests sends): any request without a
// body, and one whose body fits a copy buffer (32 KiB), which is read
// whole before the request goes out for that purpose, as Envoy buffers a
// body it may retry.
func (h *h1conn) roundTripH2(u *upstream, rec *recorder, r *http.Request, host string) bool {
	c, err := u.h2.Get(h.e.stop, host)
	if errors.Is(err, origination.ErrNoHTTP2) {
		return false // before h2Request edits r's headers for HTTP/2
	}
	var req origination.H2Request
	var s *origination.H2Stream
	if err == nil {
		req = h2Request(u, r)
		s, err = c.Open(&req)
	}
	var resp *http.Response
	var clientErr error
	var body []byte // the whole body, when read before sending
	if err == nil && r.ContentLength > 0 && r.ContentLength <= copyBufferSize {
		buf := getBuffer()
		defer putBuffer(buf)
		if clientErr = h.continueBody(r); clientErr == nil {
			body = (*buf)[:r.ContentLength]
			_, clientErr = io.ReadFull(r.Body, body)
		}
	}
	if err == nil && clientErr == nil {
		resp, clientErr, err = h.exchangeH2(s, r, body)
		if refused(err) && clientErr == nil && (r.ContentLength == 0 || body != nil) {
			h.watch.stop()
			_ = s.Close()
			if s, err = h.openStream(u.h2, host, &req); err == nil {
				resp, clientErr, err = h.exchangeH2(s, r, body)
			}
		}
	}
	if err == nil && clientErr == nil {
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

func (h *h1conn) openStream(pool *origination.H2Pool, host string, req *origination.H2Request) (*origination.H2Stream, error) {
	c, err := pool.Get(h.e.stop, host)
	if err != nil {
		return nil, err
	}
	return c.Open(req)
}

// h2Request is the HTTP/2 head of r: its end-to-end headers (hop-by-hop
// ones are removed from r.Header) and the authority the client named.
func h2Request(u *upstream, r *http.Request) origination.H2Request {
	te := httpguts.HeaderValuesContainsToken(r.Header["Te"], "trailers")
	conn := r.Header["Connection"]
	for k := range r.Header {
		if !endToEnd(k, conn) {
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
// reads the response head, as exchange does for HTTP/1.1.
func (h *h1conn) exchangeH2(s *origination.H2Stream, r *http.Request, body []byte) (resp *http.Response, clientErr, err error) {
	if r.ContentLength != 0 {
		if body != nil {
			_, err = s.Write(body)
		} else if clientErr = h.continueBody(r); clientErr == nil {
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
