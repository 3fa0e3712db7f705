//go:build linux

// Package nsproc is what the tests that build network namespaces share:
// running code inside a namespace (`ip netns add`), and starting child
// processes that die with the test binary.
package nsproc

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"golang.org/x/sys/unix"
)

// Do runs f on an OS thread inside the network namespace ns (a name
// under /var/run/netns). Sockets f opens stay in ns whichever thread uses
// them later. The thread is never unlocked: when f returns the runtime ends
// it, still in the other namespace.
func Do(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(filepath.Join("/var/run/netns", ns), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", ns, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// spawn runs functions on one OS thread that never exits. A child gets
// Pdeathsig (SIGKILL when the thread that started it dies); started from an
// ordinary thread it could be killed when the runtime retires that thread,
// as it does after Do (golang/go#27505).
var spawn = func() chan func() {
	c := make(chan func())
	go func() {
		runtime.LockOSThread()
		for f := range c {
			f()
		}
	}()
	return c
}()

// Start starts cmd in its own process group (so that a signal to the
// group reaches its children), killed if the test binary dies first.
func Start(cmd *exec.Cmd) error {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	errc := make(chan error, 1)
	spawn <- func() { errc <- cmd.Start() }
	return <-errc
}
