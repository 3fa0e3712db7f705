package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2TestHeaderBytes is the engine's MaxHeaderBytes in these tests: the
// servers' header list limit is 16 times it (as the listener's net/http server had it).
const h2TestHeaderBytes = 4 << 10

// h2Server is one HTTP/2 server under test: ours (h2conn) or net/http's,
// serving the same handler, over TLS or h2c.
type h2Server struct {
	name   string
	addr   string
	tls    bool
	client *http.Client
	eng    *Engine   // ours only
	l      *listener // ours only
}

// newH2Servers starts h behind our server and behind net/http's.
func newH2Servers(t *testing.T, h http.Handler, useTLS bool) (ours, std *h2Server) {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.Config.MaxHeaderBytes = 16 * h2TestHeaderBytes
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	if useTLS {
		ts.EnableHTTP2 = true
		ts.StartTLS()
	} else {
		ts.Config.Protocols = new(http.Protocols)
		ts.Config.Protocols.SetHTTP1(true)
		ts.Config.Protocols.SetUnencryptedHTTP2(true)
		ts.Start()
	}
	t.Cleanup(ts.Close)
	std = &h2Server{name: "net/http", addr: ts.Listener.Addr().String(), tls: useTLS}

	eng := New(Config{Log: zap.NewNop(), Metrics: NewMetrics(prometheus.NewRegistry()), MaxHeaderBytes: h2TestHeaderBytes})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{h1: map[*h1conn]struct{}{}, h2: map[*h2conn]struct{}{}, drained: make(chan struct{}), srv: &http.Server{}}
	var cfg *tls.Config
	if useTLS {
		cfg = &tls.Config{Certificates: ts.TLS.Certificates, NextProtos: []string{"h2"}}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if cfg == nil {
					eng.serveH2With(l, c, nil, h)
					return
				}
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(h1Wait))
				if err := tc.Handshake(); err != nil {
					_ = c.Close()
					return
				}
				_ = tc.SetDeadline(time.Time{})
				cs := tc.ConnectionState()
				eng.serveH2With(l, tc, &cs, h)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		l.closeAll()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(h1Wait):
			t.Error("our HTTP/2 server's connections did not end after they were closed")
		}
	})
	ours = &h2Server{name: "ours", addr: ln.Addr().String(), tls: useTLS, eng: eng, l: l}
	for _, s := range []*h2Server{ours, std} {
		tr := &http2.Transport{AllowHTTP: !useTLS, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
		if !useTLS {
			tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}
		}
		t.Cleanup(tr.CloseIdleConnections)
		s.client = &http.Client{Transport: tr, Timeout: h1Wait}
	}
	return ours, std
}

func (s *h2Server) url(path string) string {
	if s.tls {
		return "https://" + s.addr + path
	}
	return "http://" + s.addr + path
}

// h2Result is what a client saw of one exchange, for comparing servers.
type h2Result struct {
	status  int
	proto   string
	header  string // sorted, without Date
	body    string
	trailer string
	interim []int
	err     string
}

func (r h2Result) String() string {
	body := r.body
	if len(body) > 64 {
		body = fmt.Sprintf("%.64s... (%d bytes)", body, len(body))
	}
	return fmt.Sprintf("status %d %s interim %v\nheader %s\nbody %q\ntrailer %s\nerr %s", r.status, r.proto, r.interim, r.header, body, r.trailer, r.err)
}

func headerString(h http.Header) string {
	var kv []string
	for k, vs := range h {
		if k == "Date" {
			continue
		}
		kv = append(kv, k+": "+strings.Join(vs, ","))
	}
	sort.Strings(kv)
	return strings.Join(kv, "; ")
}

// do sends req (made for s by mk) and reads the whole response.
func (s *h2Server) do(mk func(url string) *http.Request) h2Result {
	req := mk(s.url(""))
	var res h2Result
	var mu sync.Mutex
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			mu.Lock()
			res.interim = append(res.interim, code)
			mu.Unlock()
			return nil
		},
	}))
	resp, err := s.client.Do(req)
	if err != nil {
		res.err = streamErrorText(err)
		return res
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	res.status, res.proto, res.header, res.body = resp.StatusCode, resp.Proto, headerString(resp.Header), string(b)
	res.trailer = headerString(resp.Trailer)
	if err != nil {
		res.err = streamErrorText(err)
	}
	return res
}

// streamErrorText reduces a client error to what both servers must agree on.
func streamErrorText(err error) string {
	var se http2.StreamError
	if errors.As(err, &se) {
		return "stream error " + se.Code.String()
	}
	var ge http2.GoAwayError
	if errors.As(err, &ge) {
		return "goaway " + ge.ErrCode.String()
	}
	return "error: " + err.Error()
}

// rawH2 is a client speaking frames to a server: for what Go's client
// will not send (bad pseudo-headers, oversized header lists).
type rawH2 struct {
	t   testing.TB
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

func (s *h2Server) raw(t testing.TB, settings ...http2.Setting) *rawH2 {
	t.Helper()
	c, err := net.DialTimeout("tcp", s.addr, h1Wait)
	if err != nil {
		t.Fatal(err)
	}
	if s.tls {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
		if err := tc.Handshake(); err != nil {
			t.Fatal(err)
		}
		c = tc
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(h1Wait))
	r := &rawH2{t: t, c: c, fr: http2.NewFramer(c, c)}
	r.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	r.enc = hpack.NewEncoder(&r.buf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := r.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return r
}

// headers sends a request's header block (fields in order, as given), split in 16 KiB frames.
func (r *rawH2) headers(id uint32, end bool, fields ...string) {
	r.buf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = r.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	block := r.buf.Bytes()
	for first := true; first || len(block) > 0; first = false {
		frag := block[:min(len(block), 16384)]
		block = block[len(frag):]
		var err error
		if first {
			err = r.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: end, EndHeaders: len(block) == 0})
		} else {
			err = r.fr.WriteContinuation(id, len(block) == 0, frag)
		}
		if err != nil {
			r.t.Fatal(err)
		}
	}
}

func get(path string, extra ...string) []string {
	return append([]string{":method", "GET", ":scheme", "https", ":authority", "example.test", ":path", path}, extra...)
}

// transcript reads frames until stream id ends (or the connection does)
// and tells what happened to it: interim and final statuses, body
// length, trailers, RST_STREAM or GOAWAY codes, PING acks; SETTINGS and
// WINDOW_UPDATE are answered, not told. DATA is acknowledged with
// WINDOW_UPDATE when ack is set; maxData notes DATA frames larger than it.
func (r *rawH2) transcript(id uint32, ack bool, maxData int) []string {
	var out []string
	body := 0
	for {
		f, err := r.fr.ReadFrame()
		if err != nil {
			return append(out, "read: "+readErrText(err))
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = r.fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			out = append(out, fmt.Sprintf("PING ack=%v %q", f.IsAck(), f.Data[:]))
			if f.IsAck() && id == 0 {
				return out
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != id {
				continue
			}
			var fs []string
			for _, hf := range f.Fields {
				if hf.Name != "date" {
					fs = append(fs, hf.Name+"="+hf.Value)
				}
			}
			sort.Strings(fs)
			out = append(out, fmt.Sprintf("HEADERS end=%v %s", f.StreamEnded(), strings.Join(fs, " ")))
			if f.StreamEnded() {
				return out
			}
		case *http2.DataFrame:
			if f.StreamID != id {
				continue
			}
			body += len(f.Data())
			if maxData > 0 && len(f.Data()) > maxData {
				out = append(out, fmt.Sprintf("DATA of %d bytes, over the window of %d", len(f.Data()), maxData))
			}
			if ack && len(f.Data()) > 0 {
				_ = r.fr.WriteWindowUpdate(0, uint32(len(f.Data())))
				_ = r.fr.WriteWindowUpdate(id, uint32(len(f.Data())))
			}
			if f.StreamEnded() {
				return append(out, fmt.Sprintf("body %d bytes, end", body))
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				return append(out, fmt.Sprintf("body %d bytes, RST_STREAM %v", body, f.ErrCode))
			}
			if id == 0 {
				out = append(out, fmt.Sprintf("RST_STREAM %v", f.ErrCode))
			}
		case *http2.GoAwayFrame:
			out = append(out, fmt.Sprintf("GOAWAY %v", f.ErrCode))
			if f.ErrCode != http2.ErrCodeNo {
				return out
			}
		}
	}
}

func readErrText(err error) string {
	if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset by peer") {
		return "connection closed"
	}
	return err.Error()
}
