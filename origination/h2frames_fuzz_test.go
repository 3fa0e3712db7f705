package origination

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzH2Frames serves a fuzzed byte stream as the upstream's side of a
// connection, after the preface and a valid SETTINGS frame, then ends
// it. The client, with a GET (stream 1) and a POST with a body (stream 3)
// open, must neither panic (recovered panics count too) nor hang: every
// stream ends, with a response or an error, within a bound.
func FuzzH2Frames(f *testing.F) {
	var hb bytes.Buffer
	he := hpack.NewEncoder(&hb)
	block := func(kv ...string) []byte {
		hb.Reset()
		for i := 0; i < len(kv); i += 2 {
			_ = he.WriteField(hpack.HeaderField{Name: kv[i], Value: kv[i+1]})
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	seed := func(write func(fr *http2.Framer)) []byte {
		var b bytes.Buffer
		write(http2.NewFramer(&b, nil))
		return b.Bytes()
	}
	f.Add(seed(func(fr *http2.Framer) {
		_ = fr.WriteSettingsAck()
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(":status", "200", "content-length", "2"), EndHeaders: true})
		_ = fr.WriteData(1, true, []byte("ok"))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(":status", "100"), EndHeaders: true})
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block(":status", "200"), EndHeaders: true})
		_ = fr.WriteData(3, false, []byte("part"))
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: block("grpc-status", "0"), EndStream: true, EndHeaders: true})
	}))
	f.Add(seed(func(fr *http2.Framer) {
		b := block(":status", "200", "x-split", "over two frames")
		_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3]})
		_ = fr.WriteContinuation(1, true, b[3:])
		_ = fr.WriteRSTStream(3, http2.ErrCodeCancel)
		_ = fr.WriteWindowUpdate(0, 1<<20)
		_ = fr.WritePing(false, [8]byte{1})
		_ = fr.WriteGoAway(1, http2.ErrCodeNo, []byte("bye"))
	}))
	f.Add(seed(func(fr *http2.Framer) {
		_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1}, http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0})
		_ = fr.WriteWindowUpdate(3, 1<<31-1)
		_ = fr.WriteWindowUpdate(3, 1)
		_ = fr.WriteData(1, false, []byte("data before headers"))
		_ = fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: block(":path", "/"), EndHeaders: true})
	}))
	f.Fuzz(func(t *testing.T, data []byte) {
		client, server := net.Pipe()
		go func() { _, _ = io.Copy(io.Discard, server) }() // the client's frames
		go func() {
			var b bytes.Buffer
			_ = http2.NewFramer(&b, nil).WriteSettings()
			_, _ = server.Write(b.Bytes())
			_, _ = server.Write(data)
			_ = server.Close()
		}()
		p := newH2Pool(Upstream{Key: "fuzz"}, nil)
		var panics atomic.Int32
		p.onPanic = func(err *PanicError) {
			panics.Add(1)
			t.Errorf("recovered: %v\n%s", err, err.Stack)
		}
		c, err := newH2Conn(p, h2Host, client)
		if err != nil {
			return
		}
		defer c.close(errConnClosed)
		var streams []*H2Stream
		for _, req := range []*H2Request{
			h2Req("http", "GET", "/"),
			{Method: "POST", Scheme: "http", Authority: h2Host, Path: "/", Header: http.Header{"X-A": {"1"}}, ContentLength: 4},
		} {
			if !c.reserve() {
				break
			}
			s, err := c.Open(req)
			if err != nil {
				break
			}
			streams = append(streams, s)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for i, s := range streams {
				if i == 1 {
					if _, err := s.Write([]byte("body")); err == nil {
						_ = s.CloseSend(nil)
					}
				}
				for {
					resp, err := s.ReadResponse()
					if err != nil {
						break
					}
					if resp.StatusCode >= 200 {
						_, _ = io.Copy(io.Discard, resp.Body)
						break
					}
				}
				_ = s.Close()
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the streams did not end within 5 s of the upstream's end")
		}
	})
}
