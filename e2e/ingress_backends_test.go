//go:build e2e && linux

package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// serveFailOnce serves HTTP on l until it is closed: the first request for
// each path gets 503, every later one 200, each body naming the attempt, so
// a retried request is told from one that was not.
func serveFailOnce(l net.Listener) {
	var mu sync.Mutex
	seen := map[string]int{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		n := seen[r.URL.Path]
		mu.Unlock()
		w.Header().Set("X-Attempt", fmt.Sprint(n))
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "fail-once: attempt 1 of %s failed\n", r.URL.Path)
			return
		}
		fmt.Fprintf(w, "fail-once: attempt %d of %s ok\n", n, r.URL.Path)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	srv.Serve(l) // returns when the listener is closed
}

// serveTCPGreeter accepts on l until it is closed: each connection gets
// "tcp-backend hello\n", then every line it sends back prefixed "echo: ".
// A connection lives at most 30 seconds.
func serveTCPGreeter(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			if isClosed(err) {
				return
			}
			continue
		}
		go func() {
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			fmt.Fprintf(c, "tcp-backend hello\n")
			sc := bufio.NewScanner(c)
			for sc.Scan() {
				if _, err := fmt.Fprintf(c, "echo: %s\n", sc.Text()); err != nil {
					return
				}
			}
		}()
	}
}
