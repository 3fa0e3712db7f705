//go:build e2e && linux

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// longPort is where longUpstream listens on the internet address.
const longPort = 8082

// The long requests of case 09c: an answer after lateAfter, and a download
// of downloadParts parts, one a second.
const (
	lateAfter     = 15 * time.Second
	downloadParts = 30
	downloadPart  = 16 << 10
)

// longUpstream serves plain HTTP in the internet namespace: /late answers
// "late answer" after lateAfter; /download streams downloadParts parts of
// downloadPart bytes, one a second, with their total as Content-Length.
func longUpstream(t *testing.T, tp *topology) {
	t.Helper()
	var ln net.Listener
	err := inNetns(tp.inet, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(internetAddr, fmt.Sprint(longPort)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	part := strings.Repeat("d", downloadPart-1) + "\n"
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/late":
			select {
			case <-time.After(lateAfter):
				fmt.Fprint(w, "late answer")
			case <-r.Context().Done():
			}
		case "/download":
			w.Header().Set("Content-Length", strconv.Itoa(downloadParts*downloadPart))
			for i := range downloadParts {
				if i > 0 {
					select {
					case <-time.After(time.Second):
					case <-r.Context().Done():
						return
					}
				}
				fmt.Fprint(w, part)
				w.(http.Flusher).Flush()
			}
		default:
			http.NotFound(w, r)
		}
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
}

// testLongRequests is case 09c: on new connections from the pod, a request
// answered after 15 s and a 30 s download both arrive whole (the gateway's
// deadline for a new connection's first bytes once cut both at 10 s).
func testLongRequests(t *testing.T, tp *topology, gw *gateway) {
	longUpstream(t, tp)
	curl := func(path string) curlResult {
		// tp.curl bounds a run at 20 s: these take longer, so run curl directly.
		argv := []string{"curl", "-sS", "--connect-timeout", "5", "--max-time", "60",
			"-w", "\n" + statusMarker + "%{http_code}", "http://long.example.test" + path}
		r := curlResult{result: tp.execIn(tp.pod, 70*time.Second, argv...)}
		if i := strings.LastIndex(r.stdout, "\n"+statusMarker); i >= 0 {
			r.status, _ = strconv.Atoi(strings.TrimSpace(r.stdout[i+len(statusMarker)+1:]))
			r.body = r.stdout[:i]
		}
		return r
	}
	var late, download curlResult
	var wg sync.WaitGroup
	wg.Go(func() { late = curl("/late") })
	wg.Go(func() { download = curl("/download") })
	wg.Wait()
	t.Run("answer_after_15s", func(t *testing.T) {
		wantResponse(t, late, 200, "late answer")
	})
	t.Run("download_for_30s", func(t *testing.T) {
		if download.status != 200 || len(download.body) != downloadParts*downloadPart {
			t.Errorf("download: status %d, %d bytes, want 200 and %d bytes\n%s", download.status, len(download.body),
				downloadParts*downloadPart, tail(download.stderr, 2000))
		}
	})
	t.Run("logged_whole", func(t *testing.T) {
		var lines []string
		err := poll(3*time.Second, 50*time.Millisecond, func() error { // access lines are flushed every second
			if lines = gw.proc.logLines(`"host":"long.example.test"`, `"status":200`); len(lines) < 2 {
				return fmt.Errorf("%d access lines with status 200", len(lines))
			}
			return nil
		})
		if err != nil {
			t.Errorf("want an access line with status 200 for each long request: %v\n%s", err, strings.Join(lines, "\n"))
		}
	})
}
