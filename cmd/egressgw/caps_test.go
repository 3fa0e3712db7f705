//go:build linux

package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/egressgw/egressgw/internal/caps"
)

// TestNonRootFileCapabilities runs egressgw as the image's user (65532)
// from a binary that carries the image's file capability
// (cap_net_bind_service, permitted, not effective): it must bind DNS on
// port 53 and the shipped configuration's ports 80 and 443. Without the
// file capability the same run is refused, so the test shows the
// capability, not the user, is what lets it bind.
func TestNonRootFileCapabilities(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: sets a file capability and runs as another user")
	}
	dir, err := os.MkdirTemp("", "egressgw-caps-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "egressgw")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0") // as the image: AllThreadsSyscall needs no cgo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cfg, err := os.ReadFile("../../deploy/config/egress.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "egress.yaml"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		fileCaps bool
		wantUp   bool
	}{
		{name: "with the image's file capability", fileCaps: true, wantUp: true},
		{name: "without it", fileCaps: false, wantUp: false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.fileCaps {
				if err := unix.Setxattr(bin, "security.capability", caps.FileCapability(caps.NetBindService), 0); err != nil {
					t.Fatalf("set file capability: %v", err)
				}
			} else if err := unix.Removexattr(bin, "security.capability"); err != nil && err != unix.ENODATA {
				t.Fatalf("remove file capability: %v", err)
			}
			addr := fmt.Sprintf("127.%d.%d.%d", 90+os.Getpid()%100, os.Getpid()/100%250, 10+i)
			logs := newLogFile(t)
			cmd := exec.Command(bin, "run", "--config", filepath.Join(dir, "egress.yaml"), "--egress-addr", addr,
				"--admin-listen", addr+":15000", "--dns-upstream", "127.0.0.1:1", "--namespace", "istio-system")
			cmd.Stdout, cmd.Stderr = logs.f, logs.f
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65532, Gid: 65532}}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan struct{})
			go func() { _ = cmd.Wait(); close(exited) }()
			defer func() {
				_ = cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(30 * time.Second):
					_ = cmd.Process.Kill()
				}
			}()
			up := false
			deadline := time.Now().Add(20 * time.Second)
			client := &http.Client{Timeout: time.Second}
		wait:
			for time.Now().Before(deadline) {
				select {
				case <-exited:
					break wait
				case <-time.After(100 * time.Millisecond):
				}
				if resp, err := client.Get("http://" + addr + ":15000/readyz"); err == nil {
					resp.Body.Close()
					if up = resp.StatusCode == http.StatusOK; up {
						break
					}
				}
			}
			if up != tt.wantUp {
				t.Fatalf("serving as uid 65532: %v, want %v; its log:\n%s", up, tt.wantUp, logs.String(t))
			}
			if !tt.wantUp {
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					t.Fatal("not ready and not exited after 30 s")
				}
				if !strings.Contains(logs.String(t), "permission denied") {
					t.Errorf("refused run's log does not say 'permission denied':\n%s", logs.String(t))
				}
			}
		})
	}
}

// logFile is a process's output, in a file: read while it still writes.
type logFile struct{ f *os.File }

func newLogFile(t *testing.T) logFile {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "log-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return logFile{f}
}

func (l logFile) String(t *testing.T) string {
	b, err := os.ReadFile(l.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
