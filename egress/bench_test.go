package egress

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkOrigination sends plaintext HTTP/1.1 with keep-alive through
// the gateway, which originates TLS (HTTP/2 by ALPN) to a loopback server.
// Client, gateway and upstream share the process and its cores: compare
// runs with each other, not with a proxy measured alone.
func BenchmarkOrigination(b *testing.B) {
	f := newFixture(b) // shut down by b.Cleanup, after the timer stops
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	url := "http://127.0.0.1:" + f.httpPort + "/bench"
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Host = "api.example.test"
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
