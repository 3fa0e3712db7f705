package config

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// startWatch runs Watch on paths and returns a channel that receives one
// value per onChange call.
func startWatch(t *testing.T, paths ...string) <-chan struct{} {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	changes := make(chan struct{}, 16)
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, func() []string { return paths }, func() { changes <- struct{}{} })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Watch did not return after cancel")
		}
	})
	time.Sleep(100 * time.Millisecond) // let the watcher start
	return changes
}

func expectChange(t *testing.T, changes <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changes:
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: onChange not called", what)
	}
}

func expectQuiet(t *testing.T, changes <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-changes:
		t.Fatalf("%s: onChange called", what)
	case <-time.After(3 * debounce):
	}
}

func TestWatchFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "se.yaml")
	write := func(name, s string) {
		t.Helper()
		if err := os.WriteFile(name, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(f, "# v1\n")
	changes := startWatch(t, f)

	write(f, "# v2\n")
	expectChange(t, changes, "write")
	expectQuiet(t, changes, "after one debounced change")

	write(filepath.Join(dir, "unrelated.yaml"), "# x\n")
	expectQuiet(t, changes, "a file not watched")

	tmp := filepath.Join(dir, ".se.yaml.swp")
	write(tmp, "# v3\n")
	if err := os.Rename(tmp, f); err != nil { // editors save by renaming over the file
		t.Fatal(err)
	}
	expectChange(t, changes, "rename over")
}

func TestWatchConfigMapDir(t *testing.T) {
	dir := t.TempDir()
	mk := func(ts, content string) {
		t.Helper()
		d := filepath.Join(dir, ts)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "se.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("..v1", "# v1\n")
	if err := os.Symlink("..v1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("..data/se.yaml", filepath.Join(dir, "se.yaml")); err != nil {
		t.Fatal(err)
	}
	changes := startWatch(t, dir)

	// The kubelet's atomic update: new directory, new ..data_tmp symlink, renamed over ..data.
	mk("..v2", "# v2\n")
	if err := os.Symlink("..v2", filepath.Join(dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	expectChange(t, changes, "ConfigMap swap")

	if err := os.WriteFile(filepath.Join(dir, "new.yml"), []byte("# new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	expectChange(t, changes, "new file in directory")

	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, changes, "non-YAML file")
}

func TestWatchSetupError(t *testing.T) {
	err := Watch(context.Background(), func() []string { return []string{"/nonexistent-dir/x/se.yaml"} }, func() {})
	if err == nil {
		t.Fatal("Watch on a missing directory: want an error")
	}
}
