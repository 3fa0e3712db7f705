//go:build linux

package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"golang.org/x/sys/unix"
)

// TestImageRuns unpacks the image the way a container runtime does (the
// layer's files with their extended attributes, security.capability
// among them) and runs its entrypoint as its user in a chroot of that
// root: the real egressgw binary must start and serve DNS on port 53 and
// its listeners on 80 and 443 as uid 65532, with nothing but the image.
func TestImageRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: unpacks with file capabilities, chroots and runs as another user")
	}
	dir, err := os.MkdirTemp("", "ociimage-run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := filepath.Join(dir, "egressgw")
	gobuild := exec.Command("go", "build", "-trimpath", "-o", bin, "../../../cmd/egressgw")
	gobuild.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := gobuild.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(dir, "image.tar")
	if err := build(options{binary: bin, caBundle: ca, out: archive, ref: "egressgw:test", arch: "amd64", version: "test"}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	lay := filepath.Join(dir, "layout")
	untar(t, b, lay)
	idx, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "rootfs")
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		unpack(t, rc, root)
		rc.Close()
	}
	// The configuration the pod would mount, in the root.
	cfg := "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: s, namespace: istio-system}\n" +
		"spec:\n  hosts: [api.example.test]\n  resolution: DNS\n  ports:\n  - {number: 443, name: https, protocol: HTTPS}\n  - {number: 80, name: http, protocol: HTTP}\n"
	if err := os.WriteFile(filepath.Join(root, "etc/egressgw/test.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	uid, gid := userOf(t, cf.Config.User)
	addr := fmt.Sprintf("127.%d.%d.%d", 80+os.Getpid()%100, os.Getpid()/100%250, 20)
	logs := newLogFile(t)
	args := append(append([]string(nil), cf.Config.Entrypoint...), "--config", "/etc/egressgw/test.yaml",
		"--egress-addr", addr, "--admin-listen", addr+":15000", "--dns-upstream", "127.0.0.1:1")
	cmd := &exec.Cmd{Path: cf.Config.Entrypoint[0], Args: args, Dir: "/", Env: []string{}, Stdout: logs.f, Stderr: logs.f,
		SysProcAttr: &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: uid, Gid: gid}}}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the entrypoint %q in the image's root: %v", cf.Config.Entrypoint, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(20 * time.Second); ; {
		select {
		case <-exited:
			t.Fatalf("the image's egressgw exited; its log:\n%s", logs.String(t))
		case <-time.After(100 * time.Millisecond):
		}
		if resp, err := client.Get("http://" + addr + ":15000/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the image's egressgw not ready after 20 s; its log:\n%s", logs.String(t))
		}
	}
	if !strings.Contains(logs.String(t), `"dns":"`+addr+`:53"`) {
		t.Errorf("the log does not say DNS serves on %s:53:\n%s", addr, logs.String(t))
	}
}

// userOf parses the config's "uid:gid".
func userOf(t *testing.T, user string) (uint32, uint32) {
	t.Helper()
	u, g, ok := strings.Cut(user, ":")
	uid, err1 := strconv.ParseUint(u, 10, 32)
	gid, err2 := strconv.ParseUint(g, 10, 32)
	if !ok || err1 != nil || err2 != nil || uid == 0 {
		t.Fatalf("image user %q: want numeric non-root uid:gid", user)
	}
	return uint32(uid), uint32(gid)
}

// unpack extracts a layer as a container runtime does: owners, modes and
// the SCHILY.xattr.* PAX records as extended attributes.
func unpack(t *testing.T, r io.Reader, root string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, data, 0o600); err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatalf("%s: unexpected type %c in the layer", h.Name, h.Typeflag)
		}
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, os.FileMode(h.Mode)&os.ModePerm|modeBits(h.Mode)); err != nil {
			t.Fatal(err)
		}
		for k, v := range h.PAXRecords { // after chown, which clears security.capability
			if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
				if err := unix.Setxattr(p, name, []byte(v), 0); err != nil {
					t.Fatalf("%s: set %s: %v", h.Name, name, err)
				}
			}
		}
	}
}

func modeBits(m int64) os.FileMode {
	var out os.FileMode
	if m&0o1000 != 0 {
		out |= os.ModeSticky
	}
	return out
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
