package egress

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkOrigination sends plaintext HTTP/1.1 with keep-alive through
// the gateway, which originates TLS to a loopback server: over HTTP/1.1
// (api.example.test, a port declared HTTP) and over HTTP/2
// (h2.example.test, h2UpgradePolicy UPGRADE). Client, gateway and upstream
// share the process and its cores: compare runs with each other, not with
// a proxy measured alone.
func BenchmarkOrigination(b *testing.B) {
	f := newFixture(b) // shut down by b.Cleanup, after the timer stops
	url := "http://127.0.0.1:" + f.httpPort + "/bench"
	for _, bc := range []struct{ name, host string }{{"h1-upstream", "api.example.test"}, {"h2-upstream", "h2.example.test"}} {
		b.Run(bc.name, func(b *testing.B) {
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			defer tr.CloseIdleConnections()
			client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					req.Host = bc.host
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
		})
	}
}
