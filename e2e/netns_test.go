//go:build e2e && linux

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/egressgw/egressgw/internal/nsproc"
)

// topology is the suite's world: three network namespaces in a line,
//
//	pod (10.231.1.2) -- (10.231.1.1) node (10.231.2.1) -- (10.231.2.2) internet
//
// The pod's only route is to the node, the node does not forward, so
// egressgw on the node is the pod's only way out. Fields are set by
// setupTopology and not changed afterwards.
type topology struct {
	dir             string // this run's files: certificates, configs, logs
	pod, node, inet string // namespace names, "egw-<pid>-pod" etc.
	pki             *pki
	nginx           *proc
	dnsmasq         *proc
	nginxAccessLog  string
	ingress         *ingressWorld // the outside and backends namespaces; nil until ingressEnv builds them
}

const nsPrefixFormat = "egw-%d-"

var nsNameRE = regexp.MustCompile(`^egw-(\d+)-`)

func setupTopology() (_ *topology, err error) {
	removeStaleNamespaces()
	dir, err := os.MkdirTemp("", "egressgw-e2e-")
	if err != nil {
		return nil, err
	}
	prefix := fmt.Sprintf(nsPrefixFormat, os.Getpid())
	tp := &topology{dir: dir, pod: prefix + "pod", node: prefix + "node", inet: prefix + "inet"}
	defer func() {
		if err != nil {
			tp.teardown(true)
		}
	}()
	if err := tp.buildNetwork(); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if tp.pki, err = newPKI(filepath.Join(dir, "certs")); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if err := tp.startNginx(); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	if err := tp.startDnsmasq(); err != nil {
		return nil, fmt.Errorf("dnsmasq: %w", err)
	}
	return tp, nil
}

func (tp *topology) buildNetwork() error {
	steps := [][]string{
		{"netns", "add", tp.pod},
		{"netns", "add", tp.node},
		{"netns", "add", tp.inet},
		{"link", "add", "eth0", "netns", tp.pod, "type", "veth", "peer", "name", "eth0", "netns", tp.node},
		{"link", "add", "eth1", "netns", tp.node, "type", "veth", "peer", "name", "eth0", "netns", tp.inet},
		{"-n", tp.pod, "addr", "add", podAddr + "/24", "dev", "eth0"},
		{"-n", tp.node, "addr", "add", egressAddr + "/24", "dev", "eth0"},
		{"-n", tp.node, "addr", "add", nodeUpAddr + "/24", "dev", "eth1"},
		{"-n", tp.inet, "addr", "add", internetAddr + "/24", "dev", "eth0"},
	}
	for _, ns := range []string{tp.pod, tp.node, tp.inet} {
		steps = append(steps, []string{"-n", ns, "link", "set", "lo", "up"})
	}
	steps = append(steps,
		[]string{"-n", tp.pod, "link", "set", "eth0", "up"},
		[]string{"-n", tp.node, "link", "set", "eth0", "up"},
		[]string{"-n", tp.node, "link", "set", "eth1", "up"},
		[]string{"-n", tp.inet, "link", "set", "eth0", "up"},
		// A pod has a default route; it leads to the node, which drops it.
		[]string{"-n", tp.pod, "route", "add", "default", "via", egressAddr},
		// The internet does not forward either: connections there time out.
		[]string{"-n", tp.node, "route", "add", blackholeNet, "via", internetAddr},
	)
	for _, args := range steps {
		if err := runHost(append([]string{"ip"}, args...)...); err != nil {
			return err
		}
	}
	sysctls := map[string][]string{
		tp.node: {"net.ipv4.ip_forward=0", "net.ipv6.conf.all.disable_ipv6=1"},
		tp.pod:  {"net.ipv6.conf.all.disable_ipv6=1"},
		tp.inet: {"net.ipv6.conf.all.disable_ipv6=1"},
	}
	for ns, kvs := range sysctls {
		for _, kv := range kvs {
			if err := runHost("ip", "netns", "exec", ns, "sysctl", "-qw", kv); err != nil {
				return err
			}
		}
	}
	// ip netns exec bind-mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf.
	etc := filepath.Join("/etc/netns", tp.pod)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		return err
	}
	resolv := fmt.Sprintf("nameserver %s\noptions timeout:1 attempts:2\n", egressAddr)
	return os.WriteFile(filepath.Join(etc, "resolv.conf"), []byte(resolv), 0o644)
}

// teardown stops every process and removes the namespaces. It keeps the run
// directory when keep is set, so a failure can be looked at.
func (tp *topology) teardown(keep bool) {
	if tp.ingress != nil {
		tp.ingress.teardown()
	}
	for _, p := range []*proc{tp.nginx, tp.dnsmasq} {
		if p != nil {
			p.stop(syscall.SIGTERM, 5*time.Second)
		}
	}
	for _, ns := range []string{tp.pod, tp.node, tp.inet} {
		deleteNamespace(ns)
	}
	if keep {
		fmt.Fprintf(os.Stderr, "e2e: run directory kept: %s\n", tp.dir)
		return
	}
	os.RemoveAll(tp.dir)
}

// removeStaleNamespaces deletes the namespaces (and their processes) left by
// an earlier run that was killed before it could clean up.
func removeStaleNamespaces() {
	out, _ := exec.Command("ip", "netns", "list").Output()
	names := map[string]bool{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 {
			names[f[0]] = true
		}
	}
	etc, _ := filepath.Glob("/etc/netns/egw-*")
	for _, p := range etc {
		names[filepath.Base(p)] = true
	}
	for name := range names {
		m := nsNameRE.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == os.Getpid() || isSuiteProcess(pid) {
			continue
		}
		fmt.Fprintf(os.Stderr, "e2e: removing stale namespace %s\n", name)
		deleteNamespace(name)
	}
}

// isSuiteProcess reports whether pid is a live e2e test binary (another run).
func isSuiteProcess(pid int) bool {
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	return err == nil && strings.TrimSpace(string(comm)) == "e2e.test"
}

// deleteNamespace kills what still runs in ns (processes this suite started)
// and removes it with its /etc/netns directory.
func deleteNamespace(ns string) {
	out, _ := exec.Command("ip", "netns", "pids", ns).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	exec.Command("ip", "netns", "del", ns).Run()
	os.RemoveAll(filepath.Join("/etc/netns", ns))
}

// runHost runs a setup command on the host and returns its output in the error.
func runHost(argv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// result is what a finished command left behind.
type result struct {
	cmd    string
	code   int // exit code; -1 if it could not run or was killed on timeout
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("$ %s\nexit %d\nstdout:\n%s\nstderr:\n%s", r.cmd, r.code, tail(r.stdout, 2000), tail(r.stderr, 3000))
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// execIn runs argv inside namespace ns (through ip netns exec, so the pod
// sees its own resolv.conf) and waits at most timeout.
func (tp *topology) execIn(ns string, timeout time.Duration, argv ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	full := append([]string{"netns", "exec", ns}, argv...)
	cmd := exec.CommandContext(ctx, "ip", full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	r := result{cmd: "ip netns exec " + ns + " " + shellJoin(argv), stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.Exited():
		r.code = exitErr.ExitCode()
	default:
		r.code = -1
		r.stderr += fmt.Sprintf("\n[e2e: %v; context: %v]", err, ctx.Err())
	}
	return r
}

func shellJoin(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if len(a) > 200 {
			a = a[:200] + fmt.Sprintf("...(%d bytes)", len(a))
		}
		if a == "" || strings.ContainsAny(a, " \t\"'$\\*?") {
			a = strconv.Quote(a)
		}
		b.WriteString(a)
	}
	return b.String()
}

// inNetns runs f on an OS thread that has entered namespace ns; sockets f
// opens belong to ns. The thread is never unlocked, so the Go runtime
// discards it when f returns instead of reusing it elsewhere.
func inNetns(ns string, f func() error) error { return nsproc.Do(ns, f) }

// errGiveUp, wrapped in f's error, stops poll at once: waiting longer
// cannot help (the process being waited for has exited).
var errGiveUp = errors.New("giving up")

// poll calls f every interval until it returns nil or timeout passes, and
// returns f's last error then.
func poll(timeout, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if errors.Is(err, errGiveUp) {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("still failing after %v: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}
