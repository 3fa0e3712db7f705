package egress

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
)

// retiringOrigin is an HTTP/2 TLS origin that retires each connection
// after perConn requests, as nginx does at keepalive_requests: either it
// answers the last one and sends GOAWAY with its stream ID, ignores
// later streams and waits for the client to close (nginx), or, with
// abrupt, it ends the connection (without GOAWAY) as the next request
// arrives, before any response to it. Each request is answered "<method> <body bytes>".
type retiringOrigin struct {
	addr    string
	perConn int
	abrupt  bool
}

func newRetiringOrigin(t *testing.T, dir string, perConn int, abrupt bool) *retiringOrigin {
	t.Helper()
	o := &retiringOrigin{perConn: perConn, abrupt: abrupt}
	o.addr = listenH2Origin(t, dir, 2*h1Wait, func(c net.Conn, _ int) { o.serve(c) })
	return o
}

func (o *retiringOrigin) serve(c net.Conn) {
	fr := startH2Origin(c)
	if fr == nil {
		return
	}
	methods := map[uint32]string{}
	bodies := map[uint32]int{}
	seen, retired := 0, false
	for {
		f, err := fr.readFrame()
		if err != nil {
			return
		}
		var id uint32
		end := false
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			if retired {
				continue // above the GOAWAY: ignored, as RFC 9113 §6.8 has it
			}
			if seen++; seen > o.perConn && o.abrupt {
				// Closed with this request read and not answered; the
				// responses sent before still arrive (no reset for
				// unread data).
				_ = c.(*tls.Conn).CloseWrite()
				_, _ = io.Copy(io.Discard, c)
				return
			}
			id, end = f.StreamID, f.StreamEnded()
			methods[id] = f.PseudoValue("method")
		case *http2.DataFrame:
			if n := uint32(f.Length); n > 0 {
				_ = fr.WriteWindowUpdate(0, n)
			}
			id, end = f.StreamID, f.StreamEnded()
			if _, ok := methods[id]; !ok {
				continue // an ignored stream's body
			}
			bodies[id] += len(f.Data())
		default:
			continue
		}
		if !end {
			continue
		}
		body := methods[id] + " " + strconv.Itoa(bodies[id])
		delete(methods, id)
		fr.answer(id, body)
		if seen == o.perConn && !o.abrupt && !retired {
			retired = true
			_ = fr.WriteGoAway(id, http2.ErrCodeNo, nil)
		}
	}
}

// TestH2ProxyRetiredConnections: under a bounded load, requests that an
// upstream retiring its connections did not process are sent again on a
// new connection, each as many times as it takes (within h2Retries):
// none fails. Behind a GOAWAY any request is retried (its small body
// kept); behind a connection closed before any response, idempotent ones.
func TestH2ProxyRetiredConnections(t *testing.T) {
	tests := []struct {
		name    string
		abrupt  bool
		methods []string
	}{
		{name: "GOAWAY after 25 requests", methods: []string{"GET", "POST"}},
		{name: "closed after 25 requests", abrupt: true, methods: []string{"GET", "HEAD"}},
	}
	const clients, perClient = 4, 60
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			org := newRetiringOrigin(t, dir, 25, tt.abrupt)
			_, addr := gatewayTo(t, dir, port("https://"+org.addr), "HTTP",
				[]string{"tls: {mode: SIMPLE, caCertificates: ca.pem}", "connectionPool: {http: {h2UpgradePolicy: UPGRADE}}"})
			hc := &http.Client{Timeout: 2 * h1Wait, Transport: &http.Transport{
				DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
				},
			}}
			t.Cleanup(hc.CloseIdleConnections)
			errs := make(chan error, clients*perClient)
			var wg sync.WaitGroup
			for i := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range perClient {
						m := tt.methods[(i+j)%len(tt.methods)]
						var body io.Reader
						n := 0
						if m == "POST" {
							n = 1 << 10
							body = strings.NewReader(strings.Repeat("x", n))
						}
						req, _ := http.NewRequest(m, "http://"+h1Host+"/r", body)
						resp, err := hc.Do(req)
						if err != nil {
							errs <- fmt.Errorf("%s: %w", m, err)
							continue
						}
						b, err := io.ReadAll(resp.Body)
						_ = resp.Body.Close()
						want := m + " " + strconv.Itoa(n)
						if m == "HEAD" {
							want = ""
						}
						if err != nil || resp.StatusCode != 200 || string(b) != want {
							errs <- fmt.Errorf("%s: %d %q (%v), want 200 %q", m, resp.StatusCode, b, err, want)
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			failed := 0
			for err := range errs {
				if failed++; failed <= 5 {
					t.Error(err)
				}
			}
			if failed > 0 {
				t.Errorf("%d of %d requests failed, want none", failed, clients*perClient)
			}
		})
	}
}
