package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long Watch waits after the last event before calling onChange.
const debounce = 200 * time.Millisecond

// Watch calls onChange after any file named by paths() changes: a file, a
// YAML file in a directory, or a Kubernetes ConfigMap/Secret volume swap
// ("..data" symlink). It watches every directory given and the parent
// directory of every file (so editor renames are seen), waits until events
// have been quiet for 200ms, and calls onChange from its own goroutine, one
// call at a time; paths is called again after each onChange, so the set may
// change (for example certificate files named by a new Snapshot's Files).
// Watch returns an error if the watch cannot be set up, and nil once ctx is
// done. Later watcher errors are ignored: the next Load reports problems.
func Watch(ctx context.Context, paths func() []string, onChange func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	defer w.Close()
	set := newWatchSet(paths())
	watched := map[string]bool{}
	if err := set.sync(w, watched); err != nil {
		return err
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if set.interesting(ev.Name) {
				timer.Reset(debounce)
			}
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
		case <-timer.C:
			onChange()
			set = newWatchSet(paths())
			_ = set.sync(w, watched) // a directory that vanished is retried after the next change
		}
	}
}

// watchSet says which events matter for one list of paths.
type watchSet struct {
	dirs  map[string]bool // directories given: their YAML files matter
	files map[string]bool // files given
	watch map[string]bool // directories to watch: dirs and the parents of files
}

func newWatchSet(paths []string) *watchSet {
	s := &watchSet{dirs: map[string]bool{}, files: map[string]bool{}, watch: map[string]bool{}}
	for _, p := range paths {
		p = filepath.Clean(p)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			s.dirs[p] = true
			s.watch[p] = true
			continue
		}
		s.files[p] = true // missing files too: their creation is a change
		s.watch[filepath.Dir(p)] = true
	}
	return s
}

func (s *watchSet) interesting(name string) bool {
	name = filepath.Clean(name)
	if s.files[name] {
		return true
	}
	dir, base := filepath.Dir(name), filepath.Base(name)
	if strings.HasPrefix(base, "..") {
		return s.watch[dir] // atomic ConfigMap/Secret volume update
	}
	return s.dirs[dir] && isYAMLName(base) && !strings.HasPrefix(base, ".")
}

// sync makes the watcher watch exactly s.watch; watched is the current set.
func (s *watchSet) sync(w *fsnotify.Watcher, watched map[string]bool) error {
	var firstErr error
	for d := range s.watch {
		if watched[d] {
			continue
		}
		if err := w.Add(d); err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("watch %s: %w", d, err)
			}
			continue
		}
		watched[d] = true
	}
	for d := range watched {
		if !s.watch[d] {
			_ = w.Remove(d)
			delete(watched, d)
		}
	}
	return firstErr
}
