//go:build linux

// Command bench measures egressgw next to the proxies and DNS servers users
// run today (nginx, HAProxy, Caddy, dnsmasq, CoreDNS) and the direct path, in one
// run, with the same upstream and the same client for every peer, and writes
// one table of medians with their ratios.
//
// It needs root: everything runs in a network namespace of its own (only
// loopback addresses, 127.0.0.x), whose /etc/hosts maps the benchmark names.
// Proxies get CPU 0 and one worker each; the upstreams and the clients get
// CPU 1. Run it with `make bench` (scripts/bench.sh), which installs the
// peers first.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	bin      string        // egressgw binary
	coredns  string        // CoreDNS binary, "" to skip it
	out      string        // where the table goes
	runs     int           // runs per figure; the median is reported
	duration time.Duration // length of one load run
	conns    int           // client connections for HTTP loads
	hold     int           // passthrough connections held for the memory figure
	bulkMiB  int           // size of the bulk download
	only     string        // comma-separated phases to run, "" for all
	profile  string        // directory for egressgw's CPU profiles under load, "" for none
	ingress  bool          // run the ingress part (ingress.go)
}

func main() {
	var o options
	flag.StringVar(&o.bin, "egressgw", "", "egressgw binary (required)")
	flag.StringVar(&o.coredns, "coredns", "", "CoreDNS binary; empty skips CoreDNS")
	flag.StringVar(&o.out, "out", "", "file the results table is written to (also printed)")
	flag.IntVar(&o.runs, "runs", 5, "runs per figure; the median is reported with min and max")
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of one load run")
	flag.IntVar(&o.conns, "connections", 64, "client connections for the HTTP loads")
	flag.IntVar(&o.hold, "hold", 5000, "idle passthrough connections held through each proxy for the memory figure")
	flag.IntVar(&o.bulkMiB, "bulk-mib", 512, "size of the bulk download, MiB")
	flag.StringVar(&o.only, "only", "", "phases to run, comma-separated: origination,passthrough,dns,memory,ingress,reload (default all)")
	flag.BoolVar(&o.ingress, "ingress", true, "run the ingress part: egressgw as Istio ingress gateway against nginx, HAProxy and Caddy (-ingress=false skips it)")
	flag.StringVar(&o.profile, "profile", "", "directory to write egressgw's CPU profile of each load to (the last run of each figure)")
	flag.Parse()
	if o.bin == "" {
		fatalf("-egressgw is required")
	}
	if os.Getenv(insideEnv) == "" {
		os.Exit(outside())
	}
	if err := inside(o); err != nil {
		fatalf("%v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
	os.Exit(1)
}

const (
	insideEnv = "EGRESSGW_BENCH_INSIDE"
	nsName    = "egressgw-bench"
)

// outside makes the namespace and its hosts file, runs this program again
// inside it on CPU 1, and removes the namespace afterwards, killing whatever
// still runs in it: nginx and dnsmasq drop privileges, which clears the
// parent-death signal, so they would outlive an interrupted run.
func outside() int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: must run as root (network namespace, CPU pinning, ports below 1024)")
		return 1
	}
	// One run at a time: a second would measure the first's load.
	lock, err := os.OpenFile("/run/egressgw-bench.lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		fatalf("%v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintln(os.Stderr, "bench: another benchmark run holds /run/egressgw-bench.lock; wait for it to end")
		return 1
	}
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	removeNamespace() // a previous, interrupted run's
	hostsDir := filepath.Join("/etc/netns", nsName)
	if err := os.MkdirAll(hostsDir, 0o755); err != nil {
		fatalf("%v", err)
	}
	if err := os.WriteFile(filepath.Join(hostsDir, "hosts"), []byte(hostsFile()), 0o644); err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(hostsDir)
	setup := [][]string{
		{"ip", "netns", "add", nsName},
		{"ip", "-n", nsName, "link", "set", "lo", "up"},
		// New-connection runs open tens of thousands of connections.
		{"ip", "netns", "exec", nsName, "sysctl", "-q", "-w", "net.ipv4.tcp_tw_reuse=1", "net.ipv4.ip_local_port_range=1024 65000"},
	}
	for _, args := range setup {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			removeNamespace()
			fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	defer removeNamespace()

	args := append([]string{"netns", "exec", nsName, "taskset", "-c", "1", self}, os.Args[1:]...)
	cmd := exec.Command("ip", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), insideEnv+"=1")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	go func() {
		<-sigs
		fmt.Fprintln(os.Stderr, "bench: interrupted; stopping everything in the namespace")
		killNamespace()
	}()
	if err := cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() > 0 {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// killNamespace kills every process in the benchmark's namespace.
func killNamespace() {
	out, _ := exec.Command("ip", "netns", "pids", nsName).Output()
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func removeNamespace() {
	killNamespace()
	_ = exec.Command("ip", "netns", "del", nsName).Run()
}

// inside runs every phase and writes the table.
func inside(o options) error {
	raiseFileLimit()
	// Every client here talks to loopback addresses, never through a proxy.
	for _, v := range []string{"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"} {
		os.Unsetenv(v)
	}
	w, err := newWorld(o)
	if err != nil {
		return err
	}
	defer w.close()
	r := &report{opts: o, started: time.Now()}
	phases := []struct {
		name string
		run  func(*world, *report) error
	}{
		{"origination", (*world).origination},
		{"passthrough", (*world).passthrough},
		{"dns", (*world).dns},
		{"memory", (*world).memory},
		{"ingress", (*world).ingress},
		{"reload", (*world).reload},
	}
	for _, p := range phases {
		if o.only != "" && !strings.Contains(","+o.only+",", ","+p.name+",") {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s\n", p.name)
		if err := p.run(w, r); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	text := r.render(w.versions())
	fmt.Print(text)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(text), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "bench: results written to %s\n", o.out)
	}
	if r.reloadNote != "" && !r.reloadOK {
		return fmt.Errorf("the reload run lost requests: %s", r.reloadNote)
	}
	return nil
}

// raiseFileLimit lets this process and the proxies it starts hold many
// thousands of connections: the soft limit goes up to the hard one.
func raiseFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fatalf("open-file limit: %v", err)
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		fatalf("raising the open-file limit to %d: %v", lim.Max, err)
	}
	fileLimit = int(lim.Cur)
}

// fileLimit is every process's open-file limit, for the configs.
var fileLimit int
