package egress

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestAdminPprof(t *testing.T) {
	tests := []struct {
		name       string
		pprof      bool
		path       string
		wantStatus int
		wantBody   string
	}{
		{name: "off: index", path: "/debug/pprof/", wantStatus: http.StatusNotFound, wantBody: "--admin-pprof"},
		{name: "off: heap", path: "/debug/pprof/heap", wantStatus: http.StatusNotFound, wantBody: "--admin-pprof"},
		{name: "off: cmdline", path: "/debug/pprof/cmdline", wantStatus: http.StatusNotFound, wantBody: "--admin-pprof"},
		{name: "off: no slash", path: "/debug/pprof", wantStatus: http.StatusNotFound, wantBody: "--admin-pprof"},
		{name: "off: health still served", path: "/healthz", wantStatus: http.StatusOK, wantBody: "ok"},
		{name: "on: index", pprof: true, path: "/debug/pprof/", wantStatus: http.StatusOK, wantBody: "goroutine"},
		{name: "on: heap", pprof: true, path: "/debug/pprof/heap?debug=1", wantStatus: http.StatusOK, wantBody: "heap profile"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &Admin{Gatherer: prometheus.NewRegistry(), Ready: new(atomic.Bool), Pprof: tt.pprof}
			srv := httptest.NewServer(a.Handler())
			defer srv.Close()
			c := &http.Client{Timeout: 10 * time.Second}
			resp, err := c.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatalf("GET %s: %v", tt.path, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(b), tt.wantBody) {
				t.Errorf("GET %s: got %d %q, want %d with %q", tt.path, resp.StatusCode, b, tt.wantStatus, tt.wantBody)
			}
		})
	}
}
