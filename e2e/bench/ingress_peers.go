//go:build linux

package main

import (
	"cmp"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/egressgw/egressgw/internal/pki"
)

// ingressCerts writes the ingress certificate (ECDSA P-256, every peer's
// hosts) of a CA of its own and returns the files and the CA's pool.
func (w *world) ingressCerts() (ingressFiles, *x509.CertPool, error) {
	ca, err := pki.NewCA("egressgw bench ingress CA")
	if err != nil {
		return ingressFiles{}, nil, err
	}
	names := []string{}
	for _, p := range ingressProxies {
		names = append(names, "*."+ingressDomain(p))
	}
	leaf, err := ca.Issue("ingress.bench.test", names...)
	if err != nil {
		return ingressFiles{}, nil, err
	}
	f := ingressFiles{cert: w.path("ingress.pem"), key: w.path("ingress.key"), certKey: w.path("ingress-haproxy.pem")}
	for path, data := range map[string][]byte{f.cert: leaf.CertPEM, f.key: leaf.KeyPEM, f.certKey: append(append([]byte(nil), leaf.CertPEM...), leaf.KeyPEM...)} {
		// nginx's and HAProxy's masters read them as root; egressgw and Caddy run as root.
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return ingressFiles{}, nil, err
		}
	}
	return f, ca.Pool(), nil
}

// startIngressPeers renders every peer's configuration, starts it and
// checks that it routes and terminates TLS as the others do. egressgw
// failing that is left out with a note (the ingress engine may not be in
// this build); another peer failing is an error. Caddy not installed is
// left out with a note.
func (w *world) startIngressPeers(t *table, f ingressFiles, pool *x509.CertPool) ([]*ingressPeer, error) {
	var peers []*ingressPeer
	for _, name := range ingressProxies {
		start, err := w.ingressStarter(name, f)
		if err != nil {
			return peers, err
		}
		if start == nil {
			t.note(name + ": not installed (scripts/install-bench-deps.sh installs it); its column is empty")
			continue
		}
		p := &ingressPeer{name: name, start: start}
		p.proc, err = start()
		var tlsErr error
		if err == nil {
			err, tlsErr = checkIngress(name, pool)
		}
		if err == nil && tlsErr != nil && name == "egressgw" {
			// Its plaintext routing is measured, not its TLS.
			p.noTLS = true
			t.note("egressgw left out of the TLS figures: " + tlsErr.Error())
			fmt.Fprintln(os.Stderr, "bench: egressgw left out of the TLS figures:", tlsErr)
		} else {
			err = cmp.Or(err, tlsErr)
		}
		if err != nil && name == "egressgw" {
			if p.proc != nil && p.proc.exited() { // the error has its whole log's tail
				err = fmt.Errorf("it exited: %s", lastLine(p.proc))
			}
			t.note("egressgw left out of the ingress figures: " + err.Error())
			fmt.Fprintln(os.Stderr, "bench: egressgw left out of the ingress figures:", err)
			p.proc.stop()
			continue
		}
		peers = append(peers, p)
		if err != nil {
			return peers, fmt.Errorf("%s: %w", name, err)
		}
	}
	return peers, nil
}

// waitIngress waits until a restarted peer listens on both ports.
func waitIngress(p *ingressPeer) error {
	for _, port := range []string{":80", ":443"} {
		if err := waitTCP(p.proc, ingressAddrs[p.name]+port); err != nil {
			return err
		}
	}
	return nil
}

// ingressStarter renders peer's configuration and returns what starts
// it and waits until it listens; nil for a peer that is not installed.
func (w *world) ingressStarter(peer string, f ingressFiles) (func() (*proc, error), error) {
	addr := ingressAddrs[peer]
	waited := func(p *proc, err error) (*proc, error) {
		if err != nil {
			return p, err
		}
		return p, waitIngress(&ingressPeer{name: peer, proc: p})
	}
	switch peer {
	case "egressgw":
		dir := w.path("egressgw-ingress")
		if _, err := w.renderIngress("egressgw-ingress/ingress.yaml", ingressEgressgwConf, peer, f); err != nil {
			return nil, err
		}
		return func() (*proc, error) {
			p, err := w.start("egressgw-ingress", proxyCPU, []string{"GOMAXPROCS=1"}, w.opts.bin, "run",
				"--config", dir, "--ingress-addr", addr, "--egress-addr", ingEgressAddr, "--dns-listen", ingEgressAddr+":53",
				"--dns-upstream", upDNSAddr+":53", "--admin-listen", ingEgressAddr+":"+adminPort, "--admin-pprof", "--log-level", "warn")
			if err != nil {
				return p, err
			}
			if err := waitTCP(p, ingEgressAddr+":"+adminPort); err != nil {
				return p, err
			}
			return p, egressgwIngressUp(p, addr)
		}, nil
	case "nginx":
		conf, err := w.renderIngress("nginx-ingress.conf", ingressNginxConf, peer, f)
		if err != nil {
			return nil, err
		}
		return func() (*proc, error) {
			return waited(w.start("nginx-ingress", proxyCPU, nil, "nginx", "-p", w.dir, "-c", conf, "-e", w.path("nginx-ingress.err"), "-g", "daemon off;"))
		}, nil
	case "haproxy":
		if _, err := w.renderIngress(peer+"-ingress.map", ingressHAProxyMap, peer, f); err != nil {
			return nil, err
		}
		conf, err := w.renderIngress("haproxy-ingress.cfg", ingressHAProxyConf, peer, f)
		if err != nil {
			return nil, err
		}
		return func() (*proc, error) {
			return waited(w.start("haproxy-ingress", proxyCPU, nil, "haproxy", "-db", "-f", conf))
		}, nil
	case "caddy":
		if _, err := exec.LookPath("caddy"); err != nil {
			return nil, nil
		}
		conf, err := w.renderIngress("Caddyfile", ingressCaddyfile, peer, f)
		if err != nil {
			return nil, err
		}
		// Caddy keeps its state under HOME / XDG directories: the run's.
		env := []string{"GOMAXPROCS=1", "HOME=" + w.dir, "XDG_DATA_HOME=" + w.path("caddy-data"), "XDG_CONFIG_HOME=" + w.path("caddy-config")}
		return func() (*proc, error) {
			return waited(w.start("caddy", proxyCPU, env, "caddy", "run", "--config", conf, "--adapter", "caddyfile"))
		}, nil
	}
	return nil, fmt.Errorf("no ingress peer %q", peer)
}

// egressgwIngressUp checks, once the gateway is up, that its ingress
// listens; if not, the error says what the gateway logged about its
// Gateways (a build without the ingress engine warns that they are not
// applied).
func egressgwIngressUp(p *proc, addr string) error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr+":80", time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if p.exited() || time.Now().After(deadline) {
			why := "nothing listens on " + addr + ":80"
			if line := logLine(p, "Gateway"); line != "" {
				why += "; its log: " + line
			}
			return fmt.Errorf("%s", why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// logLine is the first line of p's log that contains s, shortened.
func logLine(p *proc, s string) string {
	b, _ := os.ReadFile(p.log)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, s) {
			if len(line) > 300 {
				line = line[:300] + "…"
			}
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// lastLine is the last non-empty line of p's log.
func lastLine(p *proc) string {
	lines := strings.Split(strings.TrimSpace(p.tail()), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
