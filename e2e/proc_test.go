//go:build e2e && linux

package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/egressgw/egressgw/internal/nsproc"
)

// proc is a long-running process the suite started (nginx, dnsmasq,
// egressgw), with its stdout and stderr in a log file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	waitErr error         // set before done is closed
}

// startProc starts argv with output to logPath. The process is killed with
// the test binary if that dies, and gets its own process group so stop
// reaches its children too (nginx workers).
func startProc(name, logPath string, argv ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := nsproc.Start(cmd); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitStatus describes how the process ended; "" while it runs.
func (p *proc) exitStatus() string {
	if !p.exited() {
		return ""
	}
	return p.cmd.ProcessState.String()
}

// log returns the process's output so far.
func (p *proc) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// logLines returns the output lines containing every one of subs.
func (p *proc) logLines(subs ...string) []string {
	var out []string
	for line := range strings.Lines(p.log()) {
		ok := true
		for _, s := range subs {
			if !strings.Contains(strings.ToLower(line), strings.ToLower(s)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return out
}

// signal sends sig to the process itself.
func (p *proc) signal(sig syscall.Signal) error {
	if p.exited() {
		return errors.New(p.name + " has already exited")
	}
	return p.cmd.Process.Signal(sig)
}

// wait waits at most timeout for the process to exit.
func (p *proc) wait(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		return false
	}
}

// stop sends sig, waits at most grace, then kills the whole process group.
// It reports whether the process exited on sig alone.
func (p *proc) stop(sig syscall.Signal, grace time.Duration) bool {
	if p.exited() {
		return true
	}
	p.cmd.Process.Signal(sig)
	if p.wait(grace) {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) // leftover children
		return true
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	p.wait(5 * time.Second)
	return false
}
