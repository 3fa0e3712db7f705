//go:build e2e && linux

package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The ingress world adds two namespaces to the topology, each on a link of
// its own to the node:
//
//	outside (10.231.4.2) -- (10.231.4.1) node (10.231.5.1) -- (10.231.5.2-7) backends
//
// The outside client's default route leads to the node, which does not
// forward: egressgw listening on the ingress address is its only way in.
// The backends have no route beyond their link.
const (
	ingressAddr  = "10.231.4.1" // node, on the node<->outside link: egressgw's --ingress-addr
	outsideAddr  = "10.231.4.2" // outside: the ingress client (curl), pebble
	outsideAddr2 = "10.231.4.3" // outside too: a client that is not a trusted proxy (curl --interface)
	nodeBackAddr = "10.231.5.1" // node, on the node<->backends link
	httpbinAddr  = "10.231.5.2" // httpbin (gunicorn) on httpbinPort
	v1Addr       = "10.231.5.3" // nginx backends "v1", "helloworld", "hello-web", ... and nginx.example.com on 443
	v2Addr       = "10.231.5.4" // nginx backends "v2", "wudebao-web"
	failAddr     = "10.231.5.5" // nginx: the endpoint that always fails (outlier ejection)
	failOnceAddr = "10.231.5.6" // Go: fails the first request of each path (retries)
	tcpAddr      = "10.231.5.7" // Go: a TCP server that greets and echoes
	httpbinPort  = 8000
	failOncePort = 8080
	tcpPort      = 2379
	backendsNet  = "10.231.5.0/24"

	// internetHttpbinAddr is a second address of the internet namespace,
	// where httpbin.org resolves: httpbin on port 80, for egress-control's
	// /delay/5.
	internetHttpbinAddr = "10.231.2.3"
)

// backend is one plain-HTTP server of the backends' nginx: it answers 200
// (or status) with a body naming itself and what it saw.
type backend struct {
	name   string
	addr   string
	port   int
	status int // 0: 200
}

var backends = []backend{
	{name: "v1", addr: v1Addr, port: 8081},                     // seed 001 subset v1 (labels app: k8s-combat-service-v1), weights
	{name: "v2", addr: v2Addr, port: 8081},                     // seed 001 subset v2
	{name: "failing", addr: failAddr, port: 8081, status: 503}, // outlier ejection: the bad endpoint beside v1
	{name: "helloworld", addr: v1Addr, port: 5000},             // secure-ingress, multiple hosts
	{name: "hello-web", addr: v1Addr, port: 12345},             // seed 002
	{name: "wudebao-web", addr: v2Addr, port: 54321},           // seed 002
	{name: "bookinfo", addr: v1Addr, port: 9080},               // seed 003
}

// passthroughHost is the backends' TLS site (ingress-sni-passthrough): nginx
// with its own certificate on v1Addr:443.
const passthroughHost = "nginx.example.com"

// ingressWorld is the outside and backends namespaces and what runs there.
// Set by setupIngress, not changed afterwards.
type ingressWorld struct {
	out, back       string // namespace names, "egw-<pid>-out" and "egw-<pid>-back"
	dir             string
	nginx, httpbin  *proc
	inetHttpbin     *proc // httpbin.org, in the internet namespace
	nginxAccessLog  string
	failOnce, tcp   net.Listener
	passthroughCert string // nginx.example.com's certificate file
	pki             *ingressPKI
	wg              sync.WaitGroup
}

var (
	ingressOnce sync.Once
	ingressErr  error
)

// ingressEnv returns the topology with the ingress world built (on first
// use). Like env, it skips without its tools, but fails under CI=true.
func ingressEnv(t *testing.T) *topology {
	t.Helper()
	tp := env(t)
	if _, err := lookTool("gunicorn"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("ingress e2e cannot run (CI=true, so this is an error): gunicorn missing; run scripts/install-test-deps.sh as root")
		}
		t.Skipf("ingress e2e skipped: gunicorn missing; run scripts/install-test-deps.sh as root")
	}
	ingressOnce.Do(func() {
		suiteMu.Lock()
		defer suiteMu.Unlock()
		tp.ingress, ingressErr = tp.setupIngress()
	})
	if ingressErr != nil {
		t.Fatalf("building the ingress world: %v", ingressErr)
	}
	return tp
}

func (tp *topology) setupIngress() (_ *ingressWorld, err error) {
	prefix := fmt.Sprintf(nsPrefixFormat, os.Getpid())
	w := &ingressWorld{out: prefix + "out", back: prefix + "back", dir: filepath.Join(tp.dir, "ingress")}
	defer func() {
		if err != nil {
			w.teardown()
		}
	}()
	if err := os.MkdirAll(w.dir, 0o755); err != nil {
		return nil, err
	}
	if w.pki, err = newIngressPKI(filepath.Join(w.dir, "certs")); err != nil {
		return nil, fmt.Errorf("certificates: %w", err)
	}
	if err := w.buildNetwork(); err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	if err := w.startNginx(tp); err != nil {
		return nil, fmt.Errorf("backends nginx: %w", err)
	}
	if w.httpbin, err = w.startHttpbin(tp, w.back, httpbinAddr, httpbinPort); err != nil {
		return nil, fmt.Errorf("httpbin: %w", err)
	}
	if w.inetHttpbin, err = w.startHttpbin(tp, tp.inet, internetHttpbinAddr, 80); err != nil {
		return nil, fmt.Errorf("httpbin.org: %w", err)
	}
	if err := w.startGoBackends(); err != nil {
		return nil, fmt.Errorf("go backends: %w", err)
	}
	return w, nil
}

func (w *ingressWorld) buildNetwork() error {
	steps := [][]string{
		{"netns", "add", w.out},
		{"netns", "add", w.back},
		{"link", "add", "eth2", "netns", suite.node, "type", "veth", "peer", "name", "eth0", "netns", w.out},
		{"link", "add", "eth3", "netns", suite.node, "type", "veth", "peer", "name", "eth0", "netns", w.back},
		{"-n", suite.node, "addr", "add", ingressAddr + "/24", "dev", "eth2"},
		{"-n", w.out, "addr", "add", outsideAddr + "/24", "dev", "eth0"},
		{"-n", w.out, "addr", "add", outsideAddr2 + "/24", "dev", "eth0"},
		{"-n", suite.node, "addr", "add", nodeBackAddr + "/24", "dev", "eth3"},
	}
	for _, a := range []string{httpbinAddr, v1Addr, v2Addr, failAddr, failOnceAddr, tcpAddr} {
		steps = append(steps, []string{"-n", w.back, "addr", "add", a + "/24", "dev", "eth0"})
	}
	for _, ns := range []string{w.out, w.back} {
		steps = append(steps, []string{"-n", ns, "link", "set", "lo", "up"}, []string{"-n", ns, "link", "set", "eth0", "up"})
	}
	steps = append(steps,
		[]string{"-n", suite.inet, "addr", "add", internetHttpbinAddr + "/24", "dev", "eth0"},
		[]string{"-n", suite.node, "link", "set", "eth2", "up"},
		[]string{"-n", suite.node, "link", "set", "eth3", "up"},
		// The outside's default route leads to the node, which drops what
		// is not for one of its own addresses.
		[]string{"-n", w.out, "route", "add", "default", "via", ingressAddr},
	)
	for _, args := range steps {
		if err := runHost(append([]string{"ip"}, args...)...); err != nil {
			return err
		}
	}
	for _, ns := range []string{w.out, w.back} {
		if err := runHost("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"); err != nil {
			return err
		}
	}
	return nil
}

// teardown stops what runs in the two namespaces and removes them.
func (w *ingressWorld) teardown() {
	for _, l := range []net.Listener{w.failOnce, w.tcp} {
		if l != nil {
			l.Close()
		}
	}
	for _, p := range []*proc{w.nginx, w.httpbin, w.inetHttpbin} {
		if p != nil {
			p.stop(syscall.SIGTERM, 5*time.Second)
		}
	}
	waitGroup(&w.wg, 5*time.Second)
	for _, ns := range []string{w.out, w.back} {
		deleteNamespace(ns)
	}
}

// waitGroup waits at most timeout for wg.
func waitGroup(wg *sync.WaitGroup, timeout time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		return false
	}
}

const backendsNginxConf = `
user root;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/nginx-error.log info;
events { worker_connections 512; }
http {
  default_type text/plain;
  client_body_temp_path {{.Dir}}/tmp/body;
  proxy_temp_path {{.Dir}}/tmp/proxy;
  fastcgi_temp_path {{.Dir}}/tmp/fastcgi;
  uwsgi_temp_path {{.Dir}}/tmp/uwsgi;
  scgi_temp_path {{.Dir}}/tmp/scgi;
  log_format e2e escape=json '{"server":"$server_name","host":"$host","sni":"$ssl_server_name",'
    '"request":"$request","ssl_protocol":"$ssl_protocol","client_dn":"$ssl_client_s_dn",'
    '"status":"$status","port":"$server_port","remote":"$remote_addr"}';
  access_log {{.AccessLog}} e2e;
  ssl_protocols TLSv1.2 TLSv1.3;
{{- range .Backends}}
  server {
    listen {{.Addr}}:{{.Port}};
    server_name {{.Name}};
    return {{.Status}} "{{.Name}} host=$host uri=$request_uri xfp=$http_x_forwarded_proto xff=$http_x_forwarded_for\n";
  }
{{- end}}
  server {
    listen {{.PassAddr}}:443 ssl http2;
    server_name {{.PassHost}};
    ssl_certificate {{.PassCert}};
    ssl_certificate_key {{.PassKey}};
    return 200 "{{.PassHost}} backend sni=$ssl_server_name host=$host uri=$request_uri\n";
  }
}
`

func (w *ingressWorld) startNginx(tp *topology) error {
	dir := filepath.Join(w.dir, "nginx")
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return err
	}
	type backendData struct {
		Name, Addr   string
		Port, Status int
	}
	data := struct {
		Dir, AccessLog                        string
		Backends                              []backendData
		PassAddr, PassHost, PassCert, PassKey string
	}{Dir: dir, AccessLog: filepath.Join(dir, "access.log"), PassAddr: v1Addr, PassHost: passthroughHost}
	for _, b := range backends {
		status := b.status
		if status == 0 {
			status = 200
		}
		data.Backends = append(data.Backends, backendData{Name: b.name, Addr: b.addr, Port: b.port, Status: status})
	}
	var err error
	if data.PassCert, data.PassKey, err = tp.pki.serverCert(false, passthroughHost); err != nil {
		return err
	}
	w.passthroughCert = data.PassCert
	conf := filepath.Join(dir, "nginx.conf")
	if err := renderFile(conf, backendsNginxConf, data); err != nil {
		return err
	}
	w.nginxAccessLog = data.AccessLog
	nginx, _ := lookTool("nginx")
	w.nginx, err = startProc("backends-nginx", filepath.Join(dir, "stderr.log"),
		"ip", "netns", "exec", w.back, nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log"), "-g", "daemon off;")
	if err != nil {
		return err
	}
	return poll(10*time.Second, 50*time.Millisecond, func() error {
		if w.nginx.exited() {
			b, _ := os.ReadFile(filepath.Join(dir, "nginx-error.log"))
			return fmt.Errorf("exited (%s): %s %s", w.nginx.exitStatus(), w.nginx.log(), b)
		}
		for _, b := range backends {
			if err := tp.dialFrom(tp.node, "tcp", net.JoinHostPort(b.addr, fmt.Sprint(b.port))); err != nil {
				return err
			}
		}
		return tp.dialFrom(tp.node, "tcp", net.JoinHostPort(v1Addr, "443"))
	})
}

// startHttpbin runs Debian's python3-httpbin under gunicorn in namespace
// ns on addr:port, threaded so that /delay/N does not hold up other
// requests, and waits (bounded) until it answers the node.
func (w *ingressWorld) startHttpbin(tp *topology, ns, addr string, port int) (*proc, error) {
	gunicorn, _ := lookTool("gunicorn")
	hostport := net.JoinHostPort(addr, fmt.Sprint(port))
	p, err := startProc("httpbin", filepath.Join(w.dir, "httpbin-"+addr+".log"),
		"ip", "netns", "exec", ns, gunicorn,
		"--bind", hostport,
		"--worker-class", "gthread", "--workers", "1", "--threads", "32", "--timeout", "60",
		"--chdir", w.dir, "httpbin:app")
	if err != nil {
		return nil, err
	}
	// Python takes a moment: poll until httpbin itself answers.
	err = poll(30*time.Second, 200*time.Millisecond, func() error {
		if p.exited() {
			return fmt.Errorf("exited (%s): %s: %w", p.exitStatus(), tail(p.log(), 2000), errGiveUp)
		}
		r := tp.curl(tp.node, "--connect-timeout", "1", "--max-time", "3", "http://"+hostport+"/status/200")
		if r.status != 200 {
			return fmt.Errorf("GET /status/200: %s", r)
		}
		return nil
	})
	return p, err
}

// startGoBackends listens in the backends namespace for the two servers
// nginx cannot play: fail-once (retries) and a TCP greeter (TCP routes).
func (w *ingressWorld) startGoBackends() error {
	err := inNetns(w.back, func() (err error) {
		if w.failOnce, err = net.Listen("tcp", net.JoinHostPort(failOnceAddr, fmt.Sprint(failOncePort))); err != nil {
			return err
		}
		w.tcp, err = net.Listen("tcp", net.JoinHostPort(tcpAddr, fmt.Sprint(tcpPort)))
		return err
	})
	if err != nil {
		return err
	}
	w.wg.Add(2)
	go func() { defer w.wg.Done(); serveFailOnce(w.failOnce) }()
	go func() { defer w.wg.Done(); serveTCPGreeter(w.tcp) }()
	return nil
}

// isClosed reports whether err is a closed listener's.
func isClosed(err error) bool { return errors.Is(err, net.ErrClosed) }

// backendsNginxLog reads the backends' nginx access log (same format as the internet's).
func (w *ingressWorld) backendsNginxLog() ([]nginxEntry, error) {
	return readNginxLog(w.nginxAccessLog)
}

// backendSaw waits (bounded) for a backends' nginx line whose request
// contains marker and returns it.
func (w *ingressWorld) backendSaw(t *testing.T, marker string) nginxEntry {
	t.Helper()
	var found nginxEntry
	err := poll(3*time.Second, 20*time.Millisecond, func() error {
		entries, err := w.backendsNginxLog()
		if err != nil {
			return err
		}
		for i := len(entries) - 1; i >= 0; i-- {
			if strings.Contains(entries[i].Request, marker) {
				found = entries[i]
				return nil
			}
		}
		return fmt.Errorf("no backends nginx access log line with %q", marker)
	})
	if err != nil {
		b, _ := os.ReadFile(w.nginxAccessLog)
		t.Fatalf("the backend never saw the request: %v\naccess log:\n%s", err, tail(string(b), 3000))
	}
	return found
}

// backendCount counts the backends' nginx lines whose request contains
// marker, per server name.
func (w *ingressWorld) backendCount(t *testing.T, marker string) map[string]int {
	t.Helper()
	entries, err := w.backendsNginxLog()
	if err != nil {
		t.Fatal(err)
	}
	n := map[string]int{}
	for _, e := range entries {
		if strings.Contains(e.Request, marker) {
			n[e.Server]++
		}
	}
	return n
}
