package egress

import (
	"bytes"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2ChunkSize is how much of a response body a stream buffers before it
// sends it (net/http's server buffers as much): a small response written
// whole before the handler returns leaves as HEADERS and one DATA frame
// with END_STREAM.
const h2ChunkSize = 4 << 10

var h2Chunks = sync.Pool{New: func() any { b := make([]byte, 0, h2ChunkSize); return &b }}

// errH2TooLong fails a handler's write past the Content-Length it sent.
var errH2TooLong = errors.New("http2: handler wrote more than declared Content-Length")

// Header is the response header; changes to it after WriteHeader
// (trailers) no longer change the header sent.
func (s *h2stream) Header() http.Header { return s.header }

// WriteHeader sets the status and encodes the header as it is now (what
// the handler changes after is not sent, as with net/http's server); a
// 1xx goes out at once as an interim response.
func (s *h2stream) WriteHeader(code int) {
	if s.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic("invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code >= 100 && code <= 199 {
		hb := h2Encoders.Get().(*h2HeaderBlock)
		hb.buf.Reset()
		hb.field(":status", statusText(code))
		for k, vv := range s.header {
			if k != "Content-Length" && k != "Transfer-Encoding" {
				hb.fields(k, vv)
			}
		}
		_ = s.writeHeaders(hb, false)
		h2Encoders.Put(hb)
		return
	}
	s.wroteHeader, s.status = true, code
	if s.cont.Load() == 1 {
		s.cont.CompareAndSwap(1, 2) // the final status answers the expectation
	}
	hb := h2Encoders.Get().(*h2HeaderBlock)
	hb.buf.Reset()
	s.hb = hb
	hb.field(":status", statusText(code))
	s.respLen = -1
	var stack [24]string
	keys := stack[:0]
	for k := range s.header {
		keys = append(keys, k)
	}
	slices.Sort(keys) // as net/http's server: the same header, the same block
	for _, k := range keys {
		vv := s.header[k]
		switch k {
		case "Content-Length":
			if len(vv) > 0 && vv[0] != "" {
				if n, err := strconv.ParseUint(vv[0], 10, 63); err == nil {
					s.respLen, s.respLenText = int64(n), vv[0]
				}
			}
			continue
		case "Content-Type":
			s.hasType = true
		case "Content-Encoding":
			s.hasEncoding = len(vv) > 0 && vv[0] != ""
		case "Date":
			s.hasDate = true
		case "Trailer":
			for _, v := range vv {
				for _, t := range strings.Split(v, ",") {
					if t = strings.TrimSpace(t); t != "" {
						s.declareTrailer(t)
					}
				}
			}
		case "Connection":
			s.closeConn = len(vv) > 0 && vv[0] == "close"
			continue
		}
		hb.fields(k, vv)
	}
}

// Write buffers p, sending what fills the buffer (a write larger than it goes out directly).
func (s *h2stream) Write(p []byte) (int, error) {
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	if bodylessStatus(s.status) {
		return 0, http.ErrBodyNotAllowed
	}
	s.wrote += int64(len(p))
	if s.sentLen != 0 && s.wrote > s.sentLen {
		return 0, errH2TooLong
	}
	n := 0
	for len(p) > h2ChunkSize-len(s.buf) {
		if len(s.buf) == 0 {
			m, err := s.writeChunk(p)
			return n + m, err
		}
		if s.bufp == nil {
			s.takeBuf()
		}
		k := copy(s.buf[len(s.buf):cap(s.buf)], p)
		s.buf = s.buf[:len(s.buf)+k]
		n, p = n+k, p[k:]
		if _, err := s.writeChunk(s.buf); err != nil {
			return n, err
		}
		s.buf = s.buf[:0]
	}
	if len(p) > 0 {
		if s.bufp == nil {
			s.takeBuf()
		}
		s.buf = append(s.buf, p...)
		n += len(p)
	}
	return n, nil
}

// Flush sends what is buffered (the headers if nothing is).
func (s *h2stream) Flush() { _ = s.FlushError() }

// FlushError is Flush, reporting a failed write (http.ResponseController).
func (s *h2stream) FlushError() error { return s.flush() }

func (s *h2stream) flush() error {
	_, err := s.writeChunk(s.buf)
	if s.bufp != nil {
		s.buf = s.buf[:0]
		if s.handlerDone {
			*s.bufp = s.buf
			h2Chunks.Put(s.bufp)
			s.bufp, s.buf = nil, nil
		}
	}
	return err
}

// takeBuf gives the stream its body buffer.
func (s *h2stream) takeBuf() {
	s.bufp = h2Chunks.Get().(*[]byte)
	s.buf = (*s.bufp)[:0]
}

// writeChunk sends p: the headers first if they are not out yet, and
// once the handler is done, END_STREAM and the trailers (as net/http's
// server's writeChunk).
func (s *h2stream) writeChunk(p []byte) (int, error) {
	// The whole chunk counts as one write in progress: its HEADERS, DATA
	// and trailers leave in one flush (unless writeData must wait for
	// window, which lets the chunk's frames go first).
	s.h.pending.Add(1)
	s.holding = true
	defer s.release1()
	if !s.wroteHeader {
		s.WriteHeader(http.StatusOK)
	}
	if s.handlerDone {
		s.promoteTrailers()
	}
	if !s.sentHeader {
		s.sentHeader = true
		hb := s.hb
		if !s.hasType && !s.hasEncoding && !bodylessStatus(s.status) && len(p) > 0 {
			hb.field("content-type", http.DetectContentType(p))
		}
		if s.respLenText != "" {
			s.sentLen = s.respLen
			hb.field("content-length", s.respLenText)
		} else if s.handlerDone && !bodylessStatus(s.status) && (len(p) > 0 || !s.head) {
			hb.field("content-length", strconv.Itoa(len(p)))
		}
		if !s.hasDate {
			hb.field("date", httpDate())
		}
		if s.closeConn {
			defer s.h.shutdown() // as for HTTP/1: the connection ends once its streams are done
		}
		end := s.handlerDone && len(s.trailers) == 0 && len(p) == 0 || s.head
		err := s.writeHeaders(hb, end)
		s.hb = nil
		h2Encoders.Put(hb)
		if err != nil {
			return 0, err
		}
		if end {
			return 0, nil
		}
	}
	if s.head {
		return len(p), nil
	}
	if len(p) == 0 && !s.handlerDone {
		return 0, nil
	}
	trailers := s.nonemptyTrailers()
	end := s.handlerDone && !trailers
	if len(p) > 0 || end {
		if err := s.writeData(p, end); err != nil {
			return 0, err
		}
	}
	if s.handlerDone && trailers {
		hb := h2Encoders.Get().(*h2HeaderBlock)
		hb.buf.Reset()
		for _, k := range s.trailers {
			hb.fields(k, s.header[k])
		}
		err := s.writeHeaders(hb, true)
		h2Encoders.Put(hb)
		return len(p), err
	}
	return len(p), nil
}

// release1 ends the write in progress writeChunk started, if it still holds it.
func (s *h2stream) release1() {
	if s.holding {
		s.holding = false
		s.h.unlockPending()
	}
}

// declareTrailer notes k as a trailer key, as net/http's server does.
func (s *h2stream) declareTrailer(k string) {
	k = http.CanonicalHeaderKey(k)
	if !httpguts.ValidTrailerHeader(k) {
		return
	}
	for _, t := range s.trailers {
		if t == k {
			return
		}
	}
	s.trailers = append(s.trailers, k)
}

// promoteTrailers turns "Trailer:"-prefixed header keys into trailers.
func (s *h2stream) promoteTrailers() {
	for k, vv := range s.header {
		if !strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		t := strings.TrimPrefix(k, http.TrailerPrefix)
		s.declareTrailer(t)
		s.header[http.CanonicalHeaderKey(t)] = vv
	}
	slices.Sort(s.trailers) // as net/http's server
}

func (s *h2stream) nonemptyTrailers() bool {
	for _, k := range s.trailers {
		if len(s.header[k]) > 0 {
			return true
		}
	}
	return false
}

// writeContinue sends 100 Continue, the handler having started to read the body.
func (s *h2stream) writeContinue() {
	hb := h2Encoders.Get().(*h2HeaderBlock)
	hb.buf.Reset()
	hb.field(":status", "100")
	_ = s.writeHeaders(hb, false)
	h2Encoders.Put(hb)
}

// h2HeaderBlock encodes one header block. Its encoder keeps no dynamic
// table (SETTINGS_HEADER_TABLE_SIZE 0 for what we send): a block does
// not depend on the blocks before it, so it is encoded when the handler
// calls WriteHeader, outside the connection's write lock, and written
// when the response goes out.
type h2HeaderBlock struct {
	enc *hpack.Encoder
	buf bytes.Buffer
}

var h2Encoders = sync.Pool{New: func() any {
	hb := new(h2HeaderBlock)
	hb.enc = hpack.NewEncoder(&hb.buf)
	hb.enc.SetMaxDynamicTableSizeLimit(0)
	return hb
}}

func (hb *h2HeaderBlock) field(name, value string) {
	_ = hb.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// fields encodes the values of header key k, skipping what HTTP/2
// forbids (as net/http's server does): invalid names and values, a
// Transfer-Encoding other than "trailers".
func (hb *h2HeaderBlock) fields(k string, vv []string) {
	name, ok := lowerHeader(k)
	if !ok {
		return
	}
	te := name == "transfer-encoding"
	for _, v := range vv {
		if !httpguts.ValidHeaderFieldValue(v) || te && v != "trailers" {
			continue
		}
		hb.field(name, v)
	}
}

// writeHeaders sends the header block hb on the stream: a HEADERS frame,
// and CONTINUATIONs when it is larger than the client's frame size.
func (s *h2stream) writeHeaders(hb *h2HeaderBlock, end bool) error {
	h := s.h
	h.mu.Lock()
	reset, closed, frame := s.reset, h.closed, h.peerFrame
	h.mu.Unlock()
	if reset || closed {
		return errH2StreamReset
	}
	ok := h.lockWrite()
	defer h.unlockWrite()
	if !ok {
		return h.werr
	}
	block := hb.buf.Bytes()
	for first := true; first || len(block) > 0; first = false {
		frag := block[:min(len(block), frame)]
		block = block[len(frag):]
		var err error
		if first {
			err = h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: frag, EndStream: end, EndHeaders: len(block) == 0})
		} else {
			err = h.fr.WriteContinuation(s.id, len(block) == 0, frag)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lowerHeader is the wire (lowercase) form of header name k; ok false for
// a name HTTP/2 cannot carry.
func lowerHeader(k string) (string, bool) {
	if l, ok := lowerH2Headers[k]; ok {
		return l, true
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c >= 0x80 || !httpguts.IsTokenRune(rune(c)) {
			return "", false
		}
	}
	return strings.ToLower(k), true
}

// lowerH2Headers maps common canonical header names to their wire form.
var lowerH2Headers = func() map[string]string {
	m := make(map[string]string, len(commonH2Headers))
	for l, k := range commonH2Headers {
		m[k] = l
	}
	for _, l := range []string{"x-egressgw-rule", "x-egressgw-error", "x-content-type-options", "x-envoy-upstream-service-time"} {
		m[http.CanonicalHeaderKey(l)] = l
	}
	return m
}()

// writeData sends p as DATA frames on the stream, as the send windows
// (the connection's and the stream's) allow: it waits for WINDOW_UPDATE
// when they are spent. end sets END_STREAM on the last.
func (s *h2stream) writeData(p []byte, end bool) error {
	h := s.h
	for {
		h.mu.Lock()
		for len(p) > 0 && !s.reset && !h.closed && (h.sendWindow <= 0 || s.sendWindow <= 0) {
			if s.holding { // what was written must leave before the client can grant more
				h.mu.Unlock()
				s.release1()
				h.mu.Lock()
				continue
			}
			h.cond.Wait()
		}
		if s.reset || h.closed {
			h.mu.Unlock()
			return errH2StreamReset
		}
		n := int64(len(p))
		n = min(n, h.sendWindow, s.sendWindow, int64(h.peerFrame))
		h.sendWindow -= n
		s.sendWindow -= n
		h.mu.Unlock()
		last := end && n == int64(len(p))
		var err error
		if h.lockWrite() {
			err = h.fr.WriteData(s.id, last, p[:n])
		} else {
			err = h.werr
		}
		h.unlockWrite()
		if err != nil {
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
}

// statusTexts holds the status codes as text (:status values, metric labels), made once.
var statusTexts = func() (t [1000]string) {
	for i := 100; i < len(t); i++ {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func statusText(code int) string { return statusTexts[code] }

// httpDate is the Date header value for now, formatted once a second.
func httpDate() string {
	now := time.Now()
	sec := now.Unix()
	if d := dateCache.Load(); d != nil && d.sec == sec {
		return d.s
	}
	d := &cachedDate{sec: sec, s: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}

type cachedDate struct {
	sec int64
	s   string
}

var dateCache atomic.Pointer[cachedDate]
