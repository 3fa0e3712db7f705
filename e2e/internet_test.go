//go:build e2e && linux

package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"
)

// site is one TLS virtual host of the internet's nginx on port 443. Every
// site answers 200 with a body naming itself and what it saw.
type site struct {
	name      string   // server_name and certificate CN
	aliases   []string // more server names, also in the certificate
	untrusted bool     // certificate signed by the untrusted CA
	mutual    bool     // requires a client certificate signed by the CA
}

var tlsSites = []site{
	{name: "api.example.test"},
	{name: "www.example.test"},
	{name: "en.wiki.example.test"},
	{name: "de.wiki.example.test"},
	{name: "mtls.example.test", aliases: []string{"mtls-nocert.example.test"}, mutual: true},
	{name: "untrusted.example.test", untrusted: true},
	{name: "h2.example.test"},    // HTTP/2 origination (h2UpgradePolicy UPGRADE)
	{name: "new.example.test"},   // registered only by the live-reload case
	{name: "other.example.test"}, // never registered: REGISTRY_ONLY must keep it from nginx
	{name: "edition.cnn.com"},    // Istio's egress-gateway tasks, their YAML unchanged (ingress_egress_test.go)
	// Istio's egress-kubernetes-services task (kubernetes_services_test.go): the endpoints of the selectorless my-wikipedia Service.
	{name: "my-wikipedia.default.svc.cluster.local", aliases: []string{"en.wikipedia.org"}},
}

// plainSite is the plain-HTTP default server on port 80.
const plainSite = "plain.example.test"

const nginxConf = `
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

  server {
    listen {{.Addr}}:80 default_server;
    server_name {{.Plain}};
    return 200 "{{.Plain}} host=$host uri=$request_uri\n";
  }
  server {
    listen {{.Addr}}:443 ssl http2 default_server;
    server_name _;
    ssl_certificate {{.DefaultCert}};
    ssl_certificate_key {{.DefaultKey}};
    return 421 "nginx default server: no site for sni=$ssl_server_name host=$host\n";
  }
{{- range .Sites}}
  server {
    listen {{$.Addr}}:443 ssl http2;
    server_name {{.Names}};
    ssl_certificate {{.Cert}};
    ssl_certificate_key {{.Key}};
{{- if .Mutual}}
    ssl_client_certificate {{$.CA}};
    ssl_verify_client on;
{{- end}}
    return 200 "{{.Name}} sni=$ssl_server_name host=$host uri=$request_uri client=$ssl_client_s_dn\n";
  }
{{- end}}
}
`

func (tp *topology) startNginx() error {
	dir := filepath.Join(tp.dir, "nginx")
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return err
	}
	type siteData struct {
		Name, Names, Cert, Key string
		Mutual                 bool
	}
	data := struct {
		Dir, AccessLog, Addr, Plain, CA, DefaultCert, DefaultKey string
		Sites                                                    []siteData
	}{Dir: dir, AccessLog: filepath.Join(dir, "access.log"), Addr: internetAddr, Plain: plainSite, CA: tp.pki.caFile}
	var err error
	if data.DefaultCert, data.DefaultKey, err = tp.pki.serverCert(false, "default.example.test"); err != nil {
		return err
	}
	for _, s := range tlsSites {
		names := append([]string{s.name}, s.aliases...)
		cert, key, err := tp.pki.serverCert(s.untrusted, names...)
		if err != nil {
			return err
		}
		data.Sites = append(data.Sites, siteData{Name: s.name, Names: strings.Join(names, " "), Cert: cert, Key: key, Mutual: s.mutual})
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := renderFile(conf, nginxConf, data); err != nil {
		return err
	}
	tp.nginxAccessLog = data.AccessLog
	nginx, _ := lookTool("nginx")
	tp.nginx, err = startProc("nginx", filepath.Join(dir, "stderr.log"),
		"ip", "netns", "exec", tp.inet, nginx, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "nginx-error.log"), "-g", "daemon off;")
	if err != nil {
		return err
	}
	return poll(10*time.Second, 50*time.Millisecond, func() error {
		if tp.nginx.exited() {
			b, _ := os.ReadFile(filepath.Join(dir, "nginx-error.log"))
			return fmt.Errorf("exited (%s): %s %s", tp.nginx.exitStatus(), tp.nginx.log(), b)
		}
		for _, port := range []string{"80", "443"} {
			if err := tp.dialFrom(tp.node, "tcp", net.JoinHostPort(internetAddr, port)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (tp *topology) startDnsmasq() error {
	dir := filepath.Join(tp.dir, "dnsmasq")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dnsmasq, _ := lookTool("dnsmasq")
	var err error
	tp.dnsmasq, err = startProc("dnsmasq", filepath.Join(dir, "stderr.log"),
		"ip", "netns", "exec", tp.inet, dnsmasq,
		"--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
		"--bind-interfaces", "--listen-address="+internetAddr, "--port=53",
		"--user=root", "--group=root",
		"--pid-file="+filepath.Join(dir, "dnsmasq.pid"),
		"--log-facility="+filepath.Join(dir, "queries.log"), "--log-queries",
		// Every name under example.test is the internet host, but for the
		// names that rebind a wildcard's names to the node (netguard_test.go).
		"--address=/example.test/"+internetAddr,
		"--address=/loop.rebind.example.test/127.0.0.1",
		"--address=/node.rebind.example.test/"+nodeUpAddr,
		// The hosts of Istio's egress tasks, their YAML unchanged: the
		// internet's nginx, and its httpbin (ingress_world_test.go).
		"--address=/edition.cnn.com/"+internetAddr,
		"--address=/httpbin.org/"+internetHttpbinAddr)
	if err != nil {
		return err
	}
	return poll(10*time.Second, 100*time.Millisecond, func() error {
		if tp.dnsmasq.exited() {
			return fmt.Errorf("exited (%s): %s", tp.dnsmasq.exitStatus(), tp.dnsmasq.log())
		}
		r := tp.execIn(tp.node, 3*time.Second, "dig", "+short", "+time=1", "+tries=1", "@"+internetAddr, "api.example.test")
		if strings.TrimSpace(r.stdout) != internetAddr {
			return fmt.Errorf("dig: %s", r)
		}
		return nil
	})
}

// dialFrom opens and closes a connection from namespace ns.
func (tp *topology) dialFrom(ns, network, addr string) error {
	return inNetns(ns, func() error {
		c, err := net.DialTimeout(network, addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
}

// nginxEntry is one line of nginx's access log (see log_format e2e).
type nginxEntry struct {
	Server      string `json:"server"`
	Host        string `json:"host"`
	SNI         string `json:"sni"`
	Request     string `json:"request"`
	SSLProtocol string `json:"ssl_protocol"`
	ClientDN    string `json:"client_dn"`
	Status      string `json:"status"`
	Port        string `json:"port"`
	Remote      string `json:"remote"`
}

func (tp *topology) nginxLog() ([]nginxEntry, error) { return readNginxLog(tp.nginxAccessLog) }

// readNginxLog reads an access log written with log_format e2e.
func readNginxLog(path string) ([]nginxEntry, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []nginxEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e nginxEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("nginx access log line %q: %w", sc.Text(), err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// nginxSaw waits (bounded) for an access log line whose request contains
// marker and returns it. nginx logs after it answered, so a client can see
// the answer a moment before the line is written.
func (tp *topology) nginxSaw(t *testing.T, marker string) nginxEntry {
	t.Helper()
	var found nginxEntry
	err := poll(3*time.Second, 20*time.Millisecond, func() error {
		entries, err := tp.nginxLog()
		if err != nil {
			return err
		}
		for i := len(entries) - 1; i >= 0; i-- { // the newest: an earlier -count run may have logged the same marker
			if strings.Contains(entries[i].Request, marker) {
				found = entries[i]
				return nil
			}
		}
		return fmt.Errorf("no nginx access log line with %q", marker)
	})
	if err != nil {
		t.Fatalf("nginx never saw the request: %v\naccess log:\n%s", err, tp.nginxLogText())
	}
	return found
}

// nginxMark is the number of access log lines so far, for nginxNever: the
// suite's tests share nginx, and other tests (or an earlier -count
// iteration) may reach the same host legitimately.
func (tp *topology) nginxMark(t *testing.T) int {
	t.Helper()
	entries, err := tp.nginxLog()
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// nginxNever asserts that no access log line after mark matches: nothing
// reached nginx.
func (tp *topology) nginxNever(t *testing.T, mark int, what string, match func(nginxEntry) bool) {
	t.Helper()
	entries, err := tp.nginxLog()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries[min(mark, len(entries)):] {
		if match(e) {
			t.Errorf("nginx received %s; it should not have: %+v", what, e)
		}
	}
}

func (tp *topology) nginxLogText() string {
	b, _ := os.ReadFile(tp.nginxAccessLog)
	return tail(string(b), 4000)
}

func renderFile(path, text string, data any) error {
	tmpl, err := template.New(filepath.Base(path)).Option("missingkey=error").Parse(text)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := tmpl.Execute(f, data); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
