package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/egressgw/egressgw/internal/caps"
)

// TestImage builds an archive and reads it back with go-containerregistry's
// OCI layout reader: non-root user, `egressgw run` entrypoint, the binary
// with its file capabilities, the CA bundle, and nothing to run a shell.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	bin, ca := filepath.Join(dir, "egressgw"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bin, []byte("\x7fELF binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out", "egressgw-image.tar")
	if err := build(options{binary: bin, caBundle: ca, out: out, ref: "egressgw:test", arch: "amd64", version: "test"}); err != nil {
		t.Fatal(err)
	}
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}

	lay := filepath.Join(dir, "layout")
	untar(t, first, lay)
	idx, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatalf("read OCI layout: %v", err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 || im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "egressgw:test" {
		t.Fatalf("index manifests %+v: want one, named egressgw:test", im.Manifests)
	}
	img, err := idx.Image(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" {
		t.Errorf("user %q, want 65532:65532 (non-root)", cf.Config.User)
	}
	if want := []string{"/egressgw", "run"}; !slices.Equal(cf.Config.Entrypoint, want) || len(cf.Config.Cmd) != 0 {
		t.Errorf("entrypoint %q cmd %q, want %q and no cmd", cf.Config.Entrypoint, cf.Config.Cmd, want)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers %d (%v): want one onto an empty base", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name] = h
	}
	for _, shell := range []string{"bin/sh", "bin/busybox", "usr/bin/sh", "bin/bash"} {
		if files[shell] != nil {
			t.Errorf("the image has %s: want no shell", shell)
		}
	}
	if h := files["egressgw"]; h == nil {
		t.Error("no /egressgw in the layer")
	} else {
		if h.Mode != 0o755 || h.Uid != 0 {
			t.Errorf("/egressgw mode %o uid %d, want 755 owned by root (not writable by the user it runs as)", h.Mode, h.Uid)
		}
		want := string(caps.FileCapability(caps.NetBindService, caps.NetAdmin))
		if got := h.PAXRecords["SCHILY.xattr.security.capability"]; got != want {
			t.Errorf("/egressgw security.capability %x, want %x (NET_BIND_SERVICE, NET_ADMIN permitted)", got, want)
		}
	}
	if files["etc/ssl/certs/ca-certificates.crt"] == nil {
		t.Error("no CA bundle: TLS origination would trust nothing")
	}

	// Reproducible: a second build is the same archive, byte for byte.
	if err := build(options{binary: bin, caBundle: ca, out: out, ref: "egressgw:test", arch: "amd64", version: "test"}); err != nil {
		t.Fatal(err)
	}
	if second, _ := os.ReadFile(out); !bytes.Equal(first, second) {
		t.Error("two builds of the same inputs differ")
	}
}

func TestImageErrors(t *testing.T) {
	dir := t.TempDir()
	err := build(options{binary: filepath.Join(dir, "missing"), caBundle: "/dev/null", out: filepath.Join(dir, "x.tar")})
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing binary: %v, want a read error", err)
	}
}

func untar(t *testing.T, b []byte, dir string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if h.Typeflag == tar.TypeDir {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
