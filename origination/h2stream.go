package origination

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// H2Request is the head of a request sent on an HTTP/2 stream.
type H2Request struct {
	Method, Scheme, Authority, Path string
	// Header holds end-to-end headers only: the caller has removed the
	// hop-by-hop ones. Host, Content-Length and connection-specific
	// headers are not sent from it.
	Header        http.Header
	TETrailers    bool  // send "te: trailers"
	ContentLength int64 // sent as content-length when >= 0
	EndStream     bool  // the request has no body: HEADERS ends the stream
}

// H2Stream is one request on an H2Conn. One goroutine sends the body
// (Write, CloseSend) and reads the response (ReadResponse, Read); Close
// may also be called from another goroutine to abandon the request.
type H2Stream struct {
	c    *H2Conn
	id   uint32
	head bool      // a HEAD request: the response has no body, whatever its content-length
	cond sync.Cond // on c.mu: signalled when heads, data, the end or an error arrive

	// guarded by c.mu
	heads      []*http.Response // received and not yet taken
	headArr    [1]*http.Response
	final      *http.Response // the final response (resp), once its head arrived
	resp       http.Response
	buf        []byte // response data not yet read, from rd; small at first, so that a small body costs no allocation
	small      [512]byte
	rd         int
	answered   bool // a response head (informational or final) arrived
	ended      bool // END_STREAM received
	err        error
	reset      bool // RST_STREAM sent or received: nothing more to send
	sentEnd    bool // END_STREAM sent
	closed     bool
	sendWindow int32
	recvWindow int32 // what the upstream may still send
	credit     int32 // stream window consumed and not yet given back
	declared   int64 // the response's content-length, -1 if none
	received   int64
}

var errStreamClosed = errors.New("HTTP/2 stream closed")

// Open sends req's HEADERS on c, which the caller reserved from its
// H2Pool. On error the reservation is given back.
func (c *H2Conn) Open(req *H2Request) (*H2Stream, error) {
	s := &H2Stream{c: c, head: req.Method == http.MethodHead, recvWindow: h2StreamWindow, declared: -1}
	s.cond.L = &c.mu
	s.heads = s.headArr[:0]
	s.buf = s.small[:0]
	c.wmu.Lock()
	err := c.writeHeadersLocked(s, req)
	c.wmu.Unlock()
	if err != nil {
		c.release()
		return nil, err
	}
	return s, nil
}

func (c *H2Conn) writeHeadersLocked(s *H2Stream, req *H2Request) error {
	if c.werr != nil {
		return &NoResponseError{Err: c.werr, unsent: true}
	}
	c.mu.Lock()
	limit, maxFrame, err := c.maxHeaderList, c.maxFrame, c.err
	if err != nil {
		err = &NoResponseError{Err: err, unsent: true}
	} else if c.peerGoAway {
		// The slot was reserved before the GOAWAY arrived: the stream
		// would be above its last stream ID. Nothing is encoded.
		err = c.refusedByGoAwayLocked()
	}
	c.mu.Unlock()
	if err != nil {
		return err
	}
	cl := ""
	if req.ContentLength >= 0 {
		cl = strconv.FormatInt(req.ContentLength, 10)
	}
	if limit > 0 {
		// Checked before encoding: an encoded block that is not sent
		// would leave the upstream's HPACK table out of step with ours.
		size := uint32(0)
		req.fields(cl, func(name, value string) { size += uint32(len(name) + len(value) + 32) })
		if size > limit {
			return &HeaderListTooLargeError{Size: size, Limit: limit}
		}
	}
	c.hbuf.Reset()
	req.fields(cl, func(name, value string) { _ = c.henc.WriteField(hpack.HeaderField{Name: name, Value: value}) })
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return &NoResponseError{Err: c.err, unsent: true}
	}
	s.id = c.nextID
	c.nextID += 2
	if c.nextID >= 1<<31 {
		c.goAway = true // IDs exhausted: later requests take a new connection
	}
	s.sendWindow = c.peerWindow
	s.sentEnd = req.EndStream
	c.streams[s.id] = s
	if c.peerGoAway {
		// It arrived while the block was encoded: the block still goes,
		// for the upstream's HPACK state, and the stream is refused.
		s.failLocked(c.refusedByGoAwayLocked())
		s.reset = true
	}
	c.mu.Unlock()

	c.writeBlockLocked(s.id, req.EndStream, maxFrame)
	return nil
}

// writeBlockLocked queues the header block in hbuf for stream id as a
// HEADERS frame and as many CONTINUATION frames as maxFrame requires.
func (c *H2Conn) writeBlockLocked(id uint32, endStream bool, maxFrame int) {
	block := c.hbuf.Bytes()
	first := true
	for len(block) > 0 || first {
		n := min(len(block), maxFrame)
		frag, end := block[:n], n == len(block)
		if first {
			_ = c.wfr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: endStream, EndHeaders: end})
			first = false
		} else {
			_ = c.wfr.WriteContinuation(id, end, frag)
		}
		block = block[n:]
	}
	c.kickLocked()
}

// fields calls emit with each header field of req as HTTP/2 sends it; cl
// is the content-length to send, if any.
func (req *H2Request) fields(cl string, emit func(name, value string)) {
	emit(":method", req.Method)
	emit(":scheme", req.Scheme)
	emit(":authority", req.Authority)
	emit(":path", req.Path)
	for k, vs := range req.Header {
		if connectionSpecific(k) {
			continue
		}
		name := lowerHeader(k)
		for _, v := range vs {
			emit(name, v)
		}
	}
	if req.TETrailers {
		emit("te", "trailers")
	}
	if cl != "" {
		emit("content-length", cl)
	}
}

// HeaderListTooLargeError is a request whose headers exceed what the
// upstream announced it accepts (SETTINGS_MAX_HEADER_LIST_SIZE).
type HeaderListTooLargeError struct{ Size, Limit uint32 }

func (e *HeaderListTooLargeError) Error() string {
	return "the request's headers (" + strconv.Itoa(int(e.Size)) + " bytes as HTTP/2 counts them) exceed the " +
		strconv.Itoa(int(e.Limit)) + " the upstream accepts"
}

// Write sends p as request body, waiting for flow-control window as needed.
func (s *H2Stream) Write(p []byte) (int, error) {
	c := s.c
	n := 0
	for len(p) > 0 {
		c.mu.Lock()
		for s.err == nil && !s.reset && (s.sendWindow <= 0 || c.sendWindow <= 0) {
			c.sendCond.Wait()
		}
		if s.err != nil || s.reset {
			err := s.err
			c.mu.Unlock()
			if err == nil { // the upstream answered in full and asked for no more body: drop the rest
				return n + len(p), nil
			}
			return n, err
		}
		k := min(len(p), int(s.sendWindow), int(c.sendWindow), c.maxFrame)
		s.sendWindow -= int32(k)
		c.sendWindow -= int32(k)
		c.mu.Unlock()
		chunk := p[:k]
		if err := c.queue(func(fr *http2.Framer) error { return fr.WriteData(s.id, false, chunk) }); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// CloseSend ends the request body, with trailers if any.
func (s *H2Stream) CloseSend(trailer http.Header) error {
	c := s.c
	c.mu.Lock()
	err, reset := s.err, s.reset
	s.sentEnd = true
	c.mu.Unlock()
	if err != nil || reset {
		return err
	}
	if len(trailer) == 0 {
		return c.queue(func(fr *http2.Framer) error { return fr.WriteData(s.id, true, nil) })
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	c.hbuf.Reset()
	for k, vs := range trailer {
		if connectionSpecific(k) {
			continue
		}
		name := lowerHeader(k)
		for _, v := range vs {
			_ = c.henc.WriteField(hpack.HeaderField{Name: name, Value: v})
		}
	}
	c.mu.Lock()
	maxFrame := c.maxFrame
	c.mu.Unlock()
	c.writeBlockLocked(s.id, true, maxFrame)
	return nil
}

// ReadResponse waits for the next response head: informational (1xx)
// ones first, then the final one, whose Body is the stream itself and
// whose Trailer is filled once the body has been read to its end.
func (s *H2Stream) ReadResponse() (*http.Response, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(s.heads) == 0 && s.err == nil {
		s.cond.Wait()
	}
	if len(s.heads) == 0 {
		return nil, s.err
	}
	r := s.heads[0]
	s.heads[0] = nil
	s.heads = s.heads[1:]
	return r, nil
}

// Read reads the response body.
func (s *H2Stream) Read(p []byte) (int, error) {
	c := s.c
	c.mu.Lock()
	for s.rd == len(s.buf) && !s.ended && s.err == nil {
		s.cond.Wait()
	}
	if s.rd == len(s.buf) {
		err := s.err
		if err == nil {
			err = io.EOF
		}
		c.mu.Unlock()
		return 0, err
	}
	n := copy(p, s.buf[s.rd:])
	s.rd += n
	if s.rd == len(s.buf) {
		s.buf, s.rd = s.buf[:0], 0
	}
	s.credit += int32(n)
	c.connCredit += int32(n)
	var streamInc uint32
	if !s.ended && s.credit >= h2StreamWindow/2 {
		streamInc = uint32(s.credit)
		s.recvWindow += s.credit
		s.credit = 0
	}
	connInc := c.takeConnCreditLocked()
	c.mu.Unlock()
	c.sendCredit(s.id, streamInc, connInc)
	return n, nil
}

// Buffered is how much response data can be read without waiting.
func (s *H2Stream) Buffered() int {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return len(s.buf) - s.rd
}

// Close ends the stream, resetting it (CANCEL) if either side has not
// finished, and gives its slot back. It may be called more than once,
// from any goroutine; a concurrent Read or Write then fails.
func (s *H2Stream) Close() error {
	c := s.c
	c.mu.Lock()
	if s.closed {
		c.mu.Unlock()
		return nil
	}
	s.closed = true
	reset := !s.reset && c.err == nil && (!s.ended || !s.sentEnd)
	if s.err == nil {
		s.err = errStreamClosed
	}
	c.connCredit += int32(len(s.buf) - s.rd)
	s.buf, s.rd = nil, 0
	connInc := c.takeConnCreditLocked()
	delete(c.streams, s.id)
	s.cond.Broadcast()
	c.sendCond.Broadcast()
	c.mu.Unlock()
	if reset {
		_ = c.queue(func(fr *http2.Framer) error { return fr.WriteRSTStream(s.id, http2.ErrCodeCancel) })
	}
	c.sendCredit(0, 0, connInc)
	c.release()
	return nil
}

// protocolErrorLocked fails the stream with err, if any, as the
// upstream's protocol error, before the lock a reader waits on is released
// (so that no reader sees the stream end without it), and returns it.
func (s *H2Stream) protocolErrorLocked(err error) error {
	if err == nil {
		return nil
	}
	pe := &ProtocolError{err}
	s.failLocked(pe)
	return pe
}

func (s *H2Stream) failLocked(err error) {
	if s.err == nil {
		s.err = err
	}
	s.cond.Broadcast()
	s.c.sendCond.Broadcast()
}

// onHeadersLocked takes a response head or trailers. A malformed one is
// a stream error: the stream fails and the caller resets it.
func (s *H2Stream) onHeadersLocked(h respHead) error {
	if s.ended {
		return errors.New("the upstream sent HEADERS after ending the stream")
	}
	if s.final != nil { // trailers
		if !h.endStream {
			return errors.New("the upstream sent a second HEADERS without ending the stream")
		}
		if h.hasPseudo {
			return errors.New("the upstream sent pseudo-headers in trailers")
		}
		s.final.Trailer = h.header
		return s.endLocked()
	}
	s.answered = true
	code := h.status
	if code == 0 {
		return errors.New("the upstream sent a response without :status")
	}
	r := &s.resp
	if code < 200 {
		r = new(http.Response)
	}
	*r = http.Response{
		StatusCode: code, Status: statusLine(code), Proto: "HTTP/2.0", ProtoMajor: 2,
		Header: h.header, ContentLength: -1,
	}
	if code < 200 {
		if code == http.StatusSwitchingProtocols {
			return errors.New("the upstream sent 101 Switching Protocols, which HTTP/2 forbids")
		}
		if h.endStream {
			return errors.New("the upstream ended the stream with an informational response")
		}
		s.heads = append(s.heads, r)
		s.cond.Broadcast()
		return nil
	}
	if cl := r.Header["Content-Length"]; len(cl) > 0 {
		n, err := strconv.ParseInt(cl[0], 10, 64)
		if err != nil || n < 0 || len(cl) > 1 && !allSame(cl) {
			return errors.New("the upstream sent an invalid content-length " + strconv.Quote(strings.Join(cl, ", ")))
		}
		if !s.head {
			s.declared = n
		}
		r.ContentLength = n
	}
	if h.endStream && r.ContentLength < 0 {
		r.ContentLength = 0 // known to be empty
	}
	r.Body = s
	s.final = r
	s.heads = append(s.heads, r)
	s.cond.Broadcast()
	if h.endStream {
		return s.endLocked()
	}
	return nil
}

// onDataLocked takes response data. A stream error fails the stream, and
// the caller resets it.
func (s *H2Stream) onDataLocked(f *http2.DataFrame, n int32) error {
	switch {
	case s.final == nil:
		return errors.New("the upstream sent DATA before the response's HEADERS")
	case s.ended:
		return errors.New("the upstream sent DATA after ending the stream")
	case n > s.recvWindow:
		return errors.New("the upstream sent more DATA than its flow-control window allows")
	}
	s.recvWindow -= n
	data := f.Data()
	pad := n - int32(len(data))
	s.credit += pad
	s.c.connCredit += pad
	s.received += int64(len(data))
	if s.declared >= 0 && s.received > s.declared || s.head && len(data) > 0 {
		return errors.New("the upstream sent more body than its content-length said")
	}
	if len(data) > 0 {
		s.buf = append(s.buf, data...) // sized to a small body; grows for a large one, and is reused as it is read
		s.cond.Broadcast()
	}
	if f.StreamEnded() {
		return s.endLocked()
	}
	return nil
}

func (s *H2Stream) endLocked() error {
	s.ended = true
	s.cond.Broadcast()
	if s.declared >= 0 && s.received != s.declared {
		return errors.New("the upstream ended the response " + strconv.FormatInt(s.declared-s.received, 10) +
			" bytes short of its content-length")
	}
	return nil
}

// connectionSpecific: headers HTTP/2 does not carry (RFC 9113 §8.2.2),
// plus those sent from other fields.
func connectionSpecific(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Te", "Host", "Content-Length":
		return true
	}
	return false
}

func allSame(vs []string) bool {
	for _, v := range vs[1:] {
		if v != vs[0] {
			return false
		}
	}
	return true
}
