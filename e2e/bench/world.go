//go:build linux

package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/egressgw/egressgw/internal/pki"
)

// Addresses inside the namespace. Each proxy has its own address and the
// same ports, so a client differs only in where it connects.
const (
	upstreamAddr = "127.0.0.10" // nginx: the HTTPS upstream of every proxy
	upDNSAddr    = "127.0.0.11" // dnsmasq: the upstream resolver of every DNS server
	egressgwAddr = "127.0.0.20"
	nginxAddr    = "127.0.0.21"
	haproxyAddr  = "127.0.0.22"
	dnsmasqAddr  = "127.0.0.23"
	corednsAddr  = "127.0.0.24"
	originName   = "api.bench.test"          // Host and SNI of the origination upstream
	originH1Name = "h1.bench.test"           // the same upstream, HTTP/1.1 to it (egressgw only)
	regZone      = "reg.bench.test"          // names answered by the DNS server itself
	fwdZone      = "bench.svc.cluster.local" // names forwarded to the upstream resolver, as egressgw forwards the cluster's
	regAnswer    = egressgwAddr
	fwdAnswer    = "10.9.9.9"
	adminPort    = "15000"
	proxyCPU     = "0"
	upstreamCPU  = "1"
)

// ptName is the SNI a client sends to reach the upstream through peer p in
// passthrough; the hosts file points it at p's address.
func ptName(peer string) string { return "pt-" + peer + ".bench.test" }

func hostsFile() string {
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n")
	for peer, addr := range map[string]string{"egressgw": egressgwAddr, "nginx": nginxAddr, "haproxy": haproxyAddr, "direct": upstreamAddr} {
		fmt.Fprintf(&b, "%s %s\n", addr, ptName(peer))
	}
	fmt.Fprintf(&b, "%s %s\n", upstreamAddr, originName)
	b.WriteString(ingressHostsFile())
	return b.String()
}

// world is the running benchmark: files, upstreams and peers.
type world struct {
	opts      options
	dir       string
	caFile    string
	cert, key string
	bigFile   string
	upstream  *proc // nginx
	upDNS     *proc // dnsmasq
	egressgw  *proc
	nginx     *proc
	haproxy   *proc
	dnsmasq   *proc
	coredns   *proc
	egwConfig string // egressgw's config directory
}

func newWorld(o options) (_ *world, err error) {
	dir, err := os.MkdirTemp("", "egressgw-bench-")
	if err != nil {
		return nil, err
	}
	w := &world{opts: o, dir: dir}
	// nginx's worker (not root) reads the bulk file.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if err := w.writeCerts(); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	w.bigFile = filepath.Join(dir, "big.bin")
	if err := os.WriteFile(w.bigFile, make([]byte, o.bulkMiB<<20), 0o644); err != nil {
		return nil, err
	}
	if err := w.startUpstreams(); err != nil {
		return nil, err
	}
	if err := w.startPeers(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *world) writeCerts() error {
	ca, err := pki.NewCA("egressgw bench CA")
	if err != nil {
		return err
	}
	leaf, err := ca.Issue(originName, originName, "*.bench.test")
	if err != nil {
		return err
	}
	w.caFile = filepath.Join(w.dir, "ca.pem")
	w.cert = filepath.Join(w.dir, "upstream.pem")
	w.key = filepath.Join(w.dir, "upstream.key")
	for path, data := range map[string][]byte{w.caFile: ca.CertPEM, w.cert: leaf.CertPEM, w.key: leaf.KeyPEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) startUpstreams() error {
	var err error
	if w.upstream, err = w.startNginx("upstream-nginx", upstreamCPU, upstreamNginxConf, upstreamAddr); err != nil {
		return err
	}
	w.upDNS, err = w.start("upstream-dnsmasq", upstreamCPU, nil, "dnsmasq", "-k", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address="+upDNSAddr, "--port=53", "--user=root", "--pid-file=", "--cache-size=0",
		"--address=/"+fwdZone+"/"+fwdAnswer, "--log-facility="+w.path("upstream-dnsmasq.log"))
	if err != nil {
		return err
	}
	return waitDNS(w.upDNS, upDNSAddr+":53", "h0."+fwdZone)
}

// startNginx starts nginx on cpu with the configuration template and waits
// until it listens on addr:443.
func (w *world) startNginx(name, cpu, template, addr string) (*proc, error) {
	conf, err := w.render(name+".conf", template)
	if err != nil {
		return nil, err
	}
	p, err := w.start(name, cpu, nil, "nginx", "-p", w.dir, "-c", conf, "-e", w.path(name+".err"), "-g", "daemon off;")
	if err != nil {
		return nil, err
	}
	return p, waitTCP(p, addr+":443")
}

// startPeers starts every proxy and DNS server, each on the proxy CPU with
// one worker: nginx worker_processes 1, HAProxy nbthread 1, GOMAXPROCS=1 for
// egressgw and CoreDNS; dnsmasq is single-threaded.
func (w *world) startPeers() error {
	var err error
	if w.egwConfig, err = w.writeEgressgwConfig(); err != nil {
		return err
	}
	if w.egressgw, err = w.startEgressgw(false); err != nil {
		return err
	}
	if w.nginx, err = w.startNginx("nginx", proxyCPU, proxyNginxConf, nginxAddr); err != nil {
		return err
	}
	conf, err := w.render("haproxy.cfg", haproxyConf)
	if err != nil {
		return err
	}
	if w.haproxy, err = w.start("haproxy", proxyCPU, nil, "haproxy", "-db", "-f", conf); err != nil {
		return err
	}
	if err := waitTCP(w.haproxy, haproxyAddr+":443"); err != nil {
		return err
	}
	w.dnsmasq, err = w.start("dnsmasq", proxyCPU, nil, "dnsmasq", "-k", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address="+dnsmasqAddr, "--port=53", "--user=root", "--pid-file=", "--cache-size=0",
		"--address=/"+regZone+"/"+regAnswer, "--server="+upDNSAddr, "--log-facility="+w.path("dnsmasq.log"))
	if err != nil {
		return err
	}
	if err := waitDNS(w.dnsmasq, dnsmasqAddr+":53", "r0."+regZone); err != nil {
		return err
	}
	if w.opts.coredns != "" {
		conf, err := w.render("Corefile", corefile)
		if err != nil {
			return err
		}
		if w.coredns, err = w.start("coredns", proxyCPU, []string{"GOMAXPROCS=1"}, w.opts.coredns, "-conf", conf); err != nil {
			return err
		}
		if err := waitDNS(w.coredns, corednsAddr+":53", "r0."+regZone); err != nil {
			return err
		}
	}
	return nil
}

// startEgressgw starts the gateway; accessLog keeps its default per-request
// log line (the other peers log nothing, so the main runs turn it off).
func (w *world) startEgressgw(accessLog bool) (*proc, error) {
	level := "warn"
	if accessLog {
		level = "info"
	}
	p, err := w.start("egressgw", proxyCPU, []string{"GOMAXPROCS=1"}, w.opts.bin, "run",
		"--config", w.egwConfig, "--egress-addr", egressgwAddr, "--dns-listen", egressgwAddr+":53",
		"--dns-upstream", upDNSAddr+":53", "--admin-listen", egressgwAddr+":"+adminPort, "--admin-on-egress-addr", "--admin-pprof", "--log-level", level)
	if err != nil {
		return nil, err
	}
	if err := waitTCP(p, egressgwAddr+":443"); err != nil {
		return nil, err
	}
	return p, waitDNS(p, egressgwAddr+":53", "r0."+regZone)
}

func (w *world) close() {
	for _, p := range []*proc{w.coredns, w.dnsmasq, w.haproxy, w.nginx, w.egressgw, w.upDNS, w.upstream} {
		p.stop()
	}
	if os.Getenv("EGRESSGW_BENCH_KEEP") == "" {
		os.RemoveAll(w.dir)
	} else {
		fmt.Fprintln(os.Stderr, "bench: files kept in", w.dir)
	}
}

func (w *world) path(name string) string { return filepath.Join(w.dir, name) }

// start runs a command in the background on cpu, logging to <name>.log.
func (w *world) start(name, cpu string, env []string, cmd string, args ...string) (*proc, error) {
	return startProc(name, w.path(name+".log"), env, append([]string{"taskset", "-c", cpu, cmd}, args...)...)
}

// waitTCP waits until addr accepts connections or p exits.
func waitTCP(p *proc, addr string) error {
	return poll(p, func() error {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

func poll(p *proc, ready func() error) error {
	deadline := time.Now().Add(15 * time.Second)
	for {
		if p.exited() {
			return fmt.Errorf("%s exited: %s", p.name, p.tail())
		}
		err := ready()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after 15s: %v\n%s", p.name, err, p.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// versions names what was measured, for the report's header.
func (w *world) versions() []string {
	first := func(args ...string) string {
		out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	v := []string{
		"egressgw: " + first(w.opts.bin, "version"),
		"nginx: " + strings.TrimPrefix(first("nginx", "-v"), "nginx version: "),
		"HAProxy: " + first("haproxy", "-v"),
		"dnsmasq: " + first("dnsmasq", "--version"),
		"wrk: " + first("wrk", "-v"),
		"dnsperf: " + strings.TrimSpace(strings.TrimPrefix(strings.Join(strings.Fields(first("sh", "-c", "dnsperf -h 2>&1 | grep -i '^version'")), " "), "Version")),
		"curl: " + first("curl", "--version"),
	}
	if w.opts.coredns != "" {
		v = append(v, "CoreDNS: "+first(w.opts.coredns, "-version"))
	}
	if w.opts.ingress {
		if _, err := exec.LookPath("caddy"); err == nil {
			v = append(v, "Caddy: "+first("caddy", "version"))
		}
		v = append(v, "h2load: "+first("h2load", "--version"))
	}
	return v
}
