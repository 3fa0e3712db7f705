package egress

import (
	"io"
	"net/http"
	"testing"

	"golang.org/x/net/http2"
)

// BenchmarkH2ServerGET: one connection, one stream at a time, a 1 KiB
// response; allocations include the raw client's (its decoded headers).
func BenchmarkH2ServerGET(b *testing.B) {
	body := h2Pattern(1 << 10)
	r, _ := ourH2(b, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "1024")
		_, _ = io.WriteString(w, body)
	}))
	r.fr.SetReuseFrames()
	b.ReportAllocs()
	b.ResetTimer()
	id := uint32(1)
	for range b.N {
		r.headers(id, true, get("/")...)
		for done := false; !done; {
			f, err := r.fr.ReadFrame()
			if err != nil {
				b.Fatal(err)
			}
			if d, ok := f.(*http2.DataFrame); ok {
				done = d.StreamEnded()
				if n := len(d.Data()); n > 0 {
					_ = r.fr.WriteWindowUpdate(0, uint32(n))
				}
			}
		}
		id += 2
	}
}
