package egress

import (
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
)

// refusingOrigin is an HTTP/2 TLS origin driven frame by frame: its first
// connection refuses the first stream it is sent (RST_STREAM
// REFUSED_STREAM, or GOAWAY with last stream ID 0), as an upstream
// retiring a connection does; later connections answer each request with
// "<method> <body bytes>".
type refusingOrigin struct {
	addr    string
	goAway  bool
	mu      sync.Mutex
	refused int // streams refused
	served  int // requests answered
}

func newRefusingOrigin(t *testing.T, dir string, goAway bool) *refusingOrigin {
	t.Helper()
	o := &refusingOrigin{goAway: goAway}
	o.addr = listenH2Origin(t, dir, h1Wait, func(c net.Conn, n int) { o.serve(c, n == 0) })
	return o
}

func (o *refusingOrigin) serve(c net.Conn, refuse bool) {
	fr := startH2Origin(c)
	if fr == nil {
		return
	}
	methods := map[uint32]string{}
	bodies := map[uint32]int{}
	for {
		f, err := fr.readFrame()
		if err != nil {
			return
		}
		var id uint32
		end := false
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			id, end = f.StreamID, f.StreamEnded()
			methods[id] = f.PseudoValue("method")
			if refuse {
				refuse = false
				o.mu.Lock()
				o.refused++
				o.mu.Unlock()
				if o.goAway {
					_ = fr.WriteGoAway(0, http2.ErrCodeNo, nil)
				} else {
					_ = fr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
				}
				delete(methods, id)
				continue
			}
		case *http2.DataFrame:
			id, end = f.StreamID, f.StreamEnded()
			if _, ok := methods[id]; !ok {
				continue // a refused stream's body
			}
			bodies[id] += len(f.Data())
			if n := uint32(f.Length); n > 0 {
				_ = fr.WriteWindowUpdate(0, n)
				_ = fr.WriteWindowUpdate(id, n)
			}
		default:
			continue
		}
		if !end {
			continue
		}
		o.mu.Lock()
		o.served++ // before the answer, which the test may check the count on
		o.mu.Unlock()
		fr.answer(id, methods[id]+" "+strconv.Itoa(bodies[id]))
	}
}

func (o *refusingOrigin) counts() (refused, served int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refused, o.served
}

// TestH2ProxyRefusedStream: a stream the upstream refused unprocessed is
// sent again on a new connection, with its body when the body was small
// enough to be read whole first (32 KiB); a larger, streamed body cannot
// be sent again, and the client gets a 502 naming the refusal.
func TestH2ProxyRefusedStream(t *testing.T) {
	tests := []struct {
		name   string
		goAway bool
		method string
		body   int
		want   int
	}{
		{name: "GET, REFUSED_STREAM", method: "GET", want: 200},
		{name: "POST 1 KiB, REFUSED_STREAM", method: "POST", body: 1 << 10, want: 200},
		{name: "POST 32 KiB, GOAWAY", goAway: true, method: "POST", body: 32 << 10, want: 200},
		{name: "POST 100 KiB, REFUSED_STREAM", method: "POST", body: 100 << 10, want: 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			org := newRefusingOrigin(t, dir, tt.goAway)
			_, addr := gatewayTo(t, dir, port("https://"+org.addr), "HTTP",
				[]string{"tls: {mode: SIMPLE, caCertificates: ca.pem}", "connectionPool: {http: {h2UpgradePolicy: UPGRADE}}"})
			env := &h1Env{addr: addr}
			c := env.dial(t)
			hdr := []string{"Content-Length: " + strconv.Itoa(tt.body)}
			if tt.body == 0 {
				hdr = nil
			}
			c.send(rawRequest(tt.method, "/upload", hdr...) + strings.Repeat("x", tt.body))
			resp, body := c.response(tt.method)
			refused, served := org.counts()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d (body %q; origin refused %d, served %d)", resp.StatusCode, tt.want, body, refused, served)
			}
			switch {
			case tt.want == 200 && body != tt.method+" "+strconv.Itoa(tt.body):
				t.Errorf("the origin answered %q, want %q: the request went again without its whole body", body, tt.method+" "+strconv.Itoa(tt.body))
			case tt.want == 200 && (refused != 1 || served != 1):
				t.Errorf("origin refused %d and served %d; want 1 and 1", refused, served)
			case tt.want == 502 && !strings.Contains(body, "REFUSED_STREAM"):
				t.Errorf("502 body %q does not name the refusal", body)
			}
		})
	}
}
