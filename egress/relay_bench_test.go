//go:build linux

package egress

import (
	"io"
	"testing"
	"time"
)

// BenchmarkRelayPingPong sends a 200-byte request through the relay and
// 600 bytes back, one exchange at a time on one kept connection: the
// request and response traffic of passthrough. The client and the echoing
// upstream run in the same process, so compare runs with each other.
func BenchmarkRelayPingPong(b *testing.B) {
	r := newRelay(b)
	client, upstream, _ := relayed(b, r, time.Minute)
	req, resp := make([]byte, 200), make([]byte, 600)
	go func() {
		buf := make([]byte, len(req))
		for {
			if _, err := io.ReadFull(upstream, buf); err != nil {
				return
			}
			if _, err := upstream.Write(resp); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, len(resp))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := client.Write(req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(client, buf); err != nil {
			b.Fatal(err)
		}
	}
}
