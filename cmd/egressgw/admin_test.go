package main

import (
	"bytes"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestProbe(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "admin.sock")
	ln, err := listenUnix(sock)
	if err != nil {
		t.Fatal(err)
	}
	ready := true
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/readyz" && !ready {
			http.Error(w, "not ready: waiting for the first list", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok " + r.URL.Path + "\n"))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	for _, tc := range []struct {
		name  string
		ready bool
		args  []string
		code  int
		out   string
	}{
		{"ready", true, []string{"--admin-socket", sock}, 0, "200 OK ok /readyz"},
		{"healthz", true, []string{"--admin-socket", sock, "healthz"}, 0, "ok /healthz"},
		{"not ready", false, []string{"--admin-socket", sock}, 1, "503 Service Unavailable not ready: waiting for the first list"},
		{"no socket flag", true, nil, 2, "--admin-socket is required"},
		{"nothing listening", true, []string{"--admin-socket", filepath.Join(dir, "none.sock")}, 1, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ready = tc.ready
			var stdout, stderr bytes.Buffer
			if code := probe(tc.args, &stdout, &stderr); code != tc.code {
				t.Errorf("probe %v = %d, want %d (stdout %q, stderr %q)", tc.args, code, tc.code, stdout.String(), stderr.String())
			}
			if got := stdout.String() + stderr.String(); !strings.Contains(got, tc.out) {
				t.Errorf("probe %v said %q, want it to contain %q", tc.args, got, tc.out)
			}
		})
	}
}

func TestListenUnix(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.sock")
	ln, err := listenUnix(live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := listenUnix(live); err == nil || !strings.Contains(err.Error(), "another egressgw answers") {
		t.Errorf("a socket in use: %v, want a refusal", err)
	}
	// A stale socket file (its process gone) is replaced.
	stale := filepath.Join(dir, "stale.sock")
	l2, err := net.Listen("unix", stale)
	if err != nil {
		t.Fatal(err)
	}
	l2.(*net.UnixListener).SetUnlinkOnClose(false)
	l2.Close()
	l3, err := listenUnix(stale)
	if err != nil {
		t.Fatalf("a stale socket file: %v, want it replaced", err)
	}
	l3.Close()
	plain := filepath.Join(dir, "file")
	if err := os.WriteFile(plain, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := listenUnix(plain); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("a regular file: %v, want a refusal", err)
	}
}
