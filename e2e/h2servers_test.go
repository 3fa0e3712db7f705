//go:build e2e && linux

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The HTTP/2 upstream client against real servers: nginx retiring its
// connections (keepalive_requests 100) and h2o 2.2.5, which uses the HPACK
// dynamic table before it acknowledges our SETTINGS_HEADER_TABLE_SIZE 0.
// Each listens on a port of its own in the internet namespace; the pod
// reaches them through the gateway over HTTP/1.1, the gateway them over
// HTTP/2 with TLS.

const (
	h2KeepalivePort = 8443 // nginx, keepalive_requests 100
	h2oPort         = 9443 // h2o
)

const h2NginxConf = `
user root;
worker_processes 1;
pid {{.Dir}}/nginx.pid;
error_log {{.Dir}}/error.log info;
events { worker_connections 1024; }
http {
  default_type text/plain;
  client_body_temp_path {{.Dir}}/tmp/body;
  proxy_temp_path {{.Dir}}/tmp/proxy;
  fastcgi_temp_path {{.Dir}}/tmp/fastcgi;
  uwsgi_temp_path {{.Dir}}/tmp/uwsgi;
  scgi_temp_path {{.Dir}}/tmp/scgi;
  access_log off;
  keepalive_requests 100;
  server {
    listen {{.Addr}}:{{.Port}} ssl http2;
    server_name h2ka.example.test;
    ssl_certificate {{.Cert}};
    ssl_certificate_key {{.Key}};
    location / {
      return 200 "h2ka ok\n";
    }
  }
}
`

const h2oConf = `
user: root
pid-file: {{.Dir}}/h2o.pid
error-log: {{.Dir}}/error.log
listen:
  host: {{.Addr}}
  port: {{.Port}}
  ssl:
    certificate-file: {{.Cert}}
    key-file: {{.Key}}
hosts:
  default:
    paths:
      /:
        file.dir: {{.Dir}}/www
`

const h2ServersYAML = `
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: h2ka, namespace: default}
spec:
  hosts: [h2ka.example.test]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8443}]
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: h2ka, namespace: default}
spec:
  host: h2ka.example.test
  trafficPolicy: {tls: {mode: SIMPLE}, connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: h2o, namespace: default}
spec:
  hosts: [h2o.example.test]
  ports: [{number: 80, name: http, protocol: HTTP, targetPort: 9443}]
  resolution: DNS
  location: MESH_EXTERNAL
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: h2o, namespace: default}
spec:
  host: h2o.example.test
  trafficPolicy: {tls: {mode: SIMPLE}, connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}
`

// startH2Server renders conf for a server on port with a certificate for
// name, starts argv (conf's path appended by args) in the internet
// namespace and waits (bounded) until the port accepts. It returns argv
// with its arguments, to run the tool again on the same configuration.
func (tp *topology) startH2Server(t *testing.T, tool, name string, port int, conf string, args func(dir, conf string) []string) []string {
	t.Helper()
	bin, err := lookTool(tool)
	if err != nil {
		t.Skipf("%s not installed (scripts/install-test-deps.sh installs it)", tool)
	}
	dir := filepath.Join(tp.dir, tool+"-"+strconv.Itoa(port))
	for _, d := range []string{filepath.Join(dir, "tmp"), filepath.Join(dir, "www")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "www", "index.html"), []byte(name+" ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, key, err := tp.pki.serverCert(false, name)
	if err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(dir, tool+".conf")
	data := struct {
		Dir, Addr, Cert, Key string
		Port                 int
	}{dir, internetAddr, cert, key, port}
	if err := renderFile(confPath, conf, data); err != nil {
		t.Fatal(err)
	}
	argv := append([]string{bin}, args(dir, confPath)...)
	start := argv
	if tool == "nginx" {
		start = append(start[:len(start):len(start)], "-g", "daemon off;")
	}
	p, err := startProc(tool, filepath.Join(dir, "stderr.log"), append([]string{"ip", "netns", "exec", tp.inet}, start...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.stop(syscall.SIGTERM, 5*time.Second) })
	err = poll(10*time.Second, 50*time.Millisecond, func() error {
		if p.exited() {
			b, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return fmt.Errorf("%s exited (%s): %s %s", tool, p.exitStatus(), p.log(), b)
		}
		return tp.dialFrom(tp.node, "tcp", fmt.Sprintf("%s:%d", internetAddr, port))
	})
	if err != nil {
		t.Fatal(err)
	}
	return argv
}

// h2loadStatus matches h2load's "status codes: 2000 2xx, 0 3xx, 0 4xx, 0 5xx".
var h2loadStatus = regexp.MustCompile(`status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)

// h2load runs a bounded HTTP/1.1 load from the pod and returns how many
// requests got 2xx and how many did not (other statuses or errors). It
// may run on a goroutine of its own: it reports problems as its error.
func (tp *topology) h2load(n, clients int, url string) (ok, failed int, out string, err error) {
	bin, err := lookTool("h2load")
	if err != nil {
		return 0, 0, "", fmt.Errorf("h2load not installed (nghttp2-client; scripts/install-test-deps.sh installs it): %w", err)
	}
	r := tp.execIn(tp.pod, 2*time.Minute, bin, "--h1", "-n", strconv.Itoa(n), "-c", strconv.Itoa(clients), "-T", "10", url)
	m := h2loadStatus.FindStringSubmatch(r.stdout)
	if m == nil {
		return 0, 0, "", fmt.Errorf("h2load printed no status codes\n%s", r)
	}
	ok, _ = strconv.Atoi(m[1])
	return ok, n - ok, r.stdout, nil
}

// TestH2Servers: requests through the gateway to real HTTP/2 servers.
func TestH2Servers(t *testing.T) {
	tp := env(t)
	nginx := tp.startH2Server(t, "nginx", "h2ka.example.test", h2KeepalivePort, h2NginxConf, func(dir, conf string) []string {
		return []string{"-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log")}
	})
	tp.startH2Server(t, "h2o", "h2o.example.test", h2oPort, h2oConf, func(dir, conf string) []string {
		return []string{"-c", conf}
	})
	gw := tp.startGateway(t, gatewayBinary(t, tp), "REGISTRY_ONLY")
	before := gw.reloads(t, "success")
	gw.putConfig(t, "h2servers.yaml", h2ServersYAML)
	gw.waitReloads(t, "success", before)

	t.Run("nginx keepalive_requests 100: no request lost to its GOAWAYs", func(t *testing.T) {
		const n = 10000 // 100 or more connections retired under the load
		ok, failed, out, err := tp.h2load(n, 16, "http://h2ka.example.test/load")
		if err != nil {
			t.Fatal(err)
		}
		if failed > 0 {
			t.Errorf("%d of %d requests failed (%d 2xx), want none\n%s\ngateway log:\n%s", failed, n, ok, out,
				strings.Join(gw.proc.logLines("upstream"), "\n"))
		}
	})

	t.Run("nginx reloaded five times under load: no request lost", func(t *testing.T) {
		const n = 20000
		type loadResult struct {
			ok, failed int
			out        string
			err        error
		}
		done := make(chan loadResult, 1)
		go func() {
			ok, failed, out, err := tp.h2load(n, 16, "http://h2ka.example.test/reload")
			done <- loadResult{ok, failed, out, err}
		}()
		for i := range 5 {
			time.Sleep(100 * time.Millisecond) // spread over the load; nothing is measured
			if r := tp.execIn(tp.inet, 10*time.Second, append(nginx, "-s", "reload")...); r.code != 0 {
				t.Errorf("reload %d: %s", i+1, r)
			}
		}
		select {
		case res := <-done:
			if res.err != nil {
				t.Fatal(res.err)
			}
			if res.failed > 0 {
				t.Errorf("%d of %d requests failed (%d 2xx), want none\n%s", res.failed, n, res.ok, res.out)
			}
		case <-time.After(3 * time.Minute):
			t.Fatal("h2load did not end")
		}
	})

	t.Run("h2o 2.2.5: responses that use the HPACK dynamic table decode", func(t *testing.T) {
		const n = 2000
		ok, failed, out, err := tp.h2load(n, 8, "http://h2o.example.test/index.html")
		if err != nil {
			t.Fatal(err)
		}
		if failed > 0 {
			t.Errorf("%d of %d requests failed (%d 2xx), want none\n%s\ngateway log:\n%s", failed, n, ok, out,
				tail(strings.Join(gw.proc.logLines("HPACK"), "\n"), 3000))
		}
	})

	t.Run("Expect: 100-continue is answered", func(t *testing.T) {
		body := filepath.Join(tp.dir, "h2servers-body")
		if err := os.WriteFile(body, []byte(strings.Repeat("x", 4<<10)), 0o644); err != nil {
			t.Fatal(err)
		}
		// Were Expect not answered, curl would wait out its
		// --expect100-timeout (beyond its --max-time 10) before sending
		// the body.
		r := tp.podCurl("-H", "Expect: 100-continue", "--expect100-timeout", "30", "--data-binary", "@"+body, "-v",
			"http://h2ka.example.test/post")
		wantResponse(t, r, 200, "h2ka ok")
		// On the standard library's paths net/http's server sends the 100
		// only when the body is read, and http.Transport hands nginx's 200
		// back first (nginx answers /post without reading it): curl then
		// gets its answer at once, with no 100, and waits for nothing.
		if fastPaths() && !strings.Contains(r.stderr, "HTTP/1.1 100 Continue") {
			t.Errorf("curl saw no 100 Continue\n%s", r)
		}
	})
}
