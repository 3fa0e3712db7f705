package egress

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// FuzzH2ServerFrames feeds arbitrary bytes, after the preface, to our
// HTTP/2 server: whatever they are, the connection ends (or is ended by
// the client's close) within a bound, without a panic, and every handler
// it started returns.
func FuzzH2ServerFrames(f *testing.F) {
	var seed bytes.Buffer
	fr := http2.NewFramer(&seed, nil)
	_ = fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, kv := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/echo"}, {"content-length", "3"}, {"trailer", "x-t"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: kv[0], Value: kv[1]})
	}
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	_ = fr.WriteData(1, false, []byte("abc"))
	_ = fr.WriteWindowUpdate(0, 100)
	_ = fr.WriteWindowUpdate(1, 100)
	_ = fr.WritePing(false, [8]byte{1})
	_ = fr.WriteRSTStream(1, http2.ErrCodeCancel)
	_ = fr.WriteGoAway(1, http2.ErrCodeNo, nil)
	f.Add(seed.Bytes())
	f.Add([]byte("\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x04\x01\x05\x00\x00\x00\x01\x82\x86\x84\x41"))

	eng := New(Config{Log: zap.NewNop(), Metrics: NewMetrics(prometheus.NewRegistry()), MaxHeaderBytes: 1 << 10})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-T")
		_, _ = io.Copy(w, r.Body)
		w.Header().Set("X-T", "done")
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		l := &listener{h1: map[*h1conn]struct{}{}, h2: map[*h2conn]struct{}{}, drained: make(chan struct{}), srv: &http.Server{}}
		client, server := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			eng.serveH2With(l, server, nil, handler)
		}()
		go func() { _, _ = io.Copy(io.Discard, client) }() // the server's frames
		_ = client.SetWriteDeadline(time.Now().Add(2 * time.Second))
		_, _ = io.WriteString(client, http2.ClientPreface)
		_, _ = client.Write(b)
		_ = client.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("the connection did not end after the client closed it (input %q)", b)
		}
		if n := counterValue(eng.metrics.Panics.WithLabelValues("http2 connection")); n != 0 {
			t.Fatalf("the connection goroutine panicked (input %q)", b)
		}
		if n := counterValue(eng.metrics.Panics.WithLabelValues("http2 stream")); n != 0 {
			t.Fatalf("a stream goroutine panicked (input %q)", b)
		}
	})
}
