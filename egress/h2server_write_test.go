package egress

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"golang.org/x/net/http2"
)

// countingConn counts the writes to a connection.
type countingConn struct {
	net.Conn
	writes atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

// ourH2 serves h on one loopback connection with our server, its writes counted.
func ourH2(t testing.TB, h http.Handler) (*rawH2, *countingConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	eng := New(Config{Log: zap.NewNop(), Metrics: NewMetrics(prometheus.NewRegistry())})
	l := &listener{h1: map[*h1conn]struct{}{}, h2: map[*h2conn]struct{}{}, drained: make(chan struct{}), srv: &http.Server{}}
	cc := make(chan *countingConn, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := ln.Accept()
		if err != nil {
			close(cc)
			return
		}
		counted := &countingConn{Conn: c}
		cc <- counted
		eng.serveH2With(l, counted, nil, h)
	}()
	r := (&h2Server{addr: ln.Addr().String()}).raw(t)
	counted := <-cc
	t.Cleanup(func() {
		_ = counted.Close()
		wg.Wait()
	})
	// Settle the SETTINGS exchange: the server's SETTINGS and its ACK of ours.
	for acked := false; !acked; {
		f, err := r.fr.ReadFrame()
		if err != nil {
			t.Fatalf("SETTINGS exchange: %v", err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok {
			if sf.IsAck() {
				acked = true
			} else {
				_ = r.fr.WriteSettingsAck()
			}
		}
	}
	return r, counted
}

// TestH2ServerOneWritePerResponse: a response written whole before its
// handler returns leaves as HEADERS and one DATA with END_STREAM, in one
// write to the connection (one TLS record); an empty one as HEADERS with END_STREAM.
func TestH2ServerOneWritePerResponse(t *testing.T) {
	for _, n := range []int{0, 1 << 10, 4 << 10} {
		t.Run(fmt.Sprint(n, " bytes"), func(t *testing.T) {
			r, counted := ourH2(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, h2Pattern(n))
			}))
			before := counted.writes.Load()
			r.headers(1, true, get("/")...)
			var frames []string
			for done := false; !done; {
				f, err := r.fr.ReadFrame()
				if err != nil {
					t.Fatalf("after %v: %v", frames, err)
				}
				switch f := f.(type) {
				case *http2.MetaHeadersFrame:
					frames = append(frames, fmt.Sprintf("HEADERS end=%v", f.StreamEnded()))
					done = f.StreamEnded()
				case *http2.DataFrame:
					frames = append(frames, fmt.Sprintf("DATA %d end=%v", len(f.Data()), f.StreamEnded()))
					done = f.StreamEnded()
				default:
					frames = append(frames, fmt.Sprintf("%T", f))
				}
			}
			want := fmt.Sprintf("HEADERS end=false; DATA %d end=true", n)
			if n == 0 {
				want = "HEADERS end=true"
			}
			if got := strings.Join(frames, "; "); got != want {
				t.Errorf("frames %s, want %s", got, want)
			}
			if w := counted.writes.Load() - before; w != 1 {
				t.Errorf("the response took %d writes to the connection, want 1", w)
			}
		})
	}
}

// TestH2ServerPartialFrame: a frame that has only partly arrived does not
// hold back the responses written meanwhile.
func TestH2ServerPartialFrame(t *testing.T) {
	r, _ := ourH2(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "answered") }))
	r.headers(1, true, get("/")...)
	if _, err := r.c.Write([]byte("\x00\x00\x08\x06\x00")); err != nil { // the first bytes of a PING
		t.Fatal(err)
	}
	if got := strings.Join(r.transcript(1, false, 0), "; "); got != "HEADERS end=false :status=200 content-length=8 content-type=text/plain; charset=utf-8; body 8 bytes, end" {
		t.Errorf("with a partial frame behind the request: %s; want the response", got)
	}
}

// TestH2ServerBodyAfterResponse: a client that ends its request body
// after the response ended sees no reset (END_STREAM closes the stream);
// one that sends on is told to stop with RST_STREAM NO_ERROR.
func TestH2ServerBodyAfterResponse(t *testing.T) {
	for _, ended := range []bool{true, false} {
		t.Run(fmt.Sprint("END_STREAM=", ended), func(t *testing.T) {
			r, _ := ourH2(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "early") }))
			r.headers(1, false, append(get("/"), ":method", "POST")[2:]...)
			r.transcript(1, false, 0)
			_ = r.fr.WriteData(1, ended, []byte("late"))
			_ = r.fr.WritePing(false, [8]byte{'a', 'f', 't', 'e', 'r'})
			_ = r.c.SetDeadline(time.Now().Add(h1Wait))
			got := strings.Join(r.transcript(0, false, 0), "; ")
			want := `PING ack=true "after\x00\x00\x00"`
			if !ended {
				want = "RST_STREAM NO_ERROR; " + want
			}
			if got != want {
				t.Errorf("after the response: %s; want %s", got, want)
			}
		})
	}
}
