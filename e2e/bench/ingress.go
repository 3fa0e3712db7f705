//go:build linux

package main

import (
	"fmt"
	"time"
)

// The ingress part: egressgw as an Istio ingress gateway (Gateway,
// VirtualService, ServiceEntry; --ingress-addr) next to nginx, HAProxy and
// Caddy doing the same job, each a process of its own on the proxy CPU
// with one worker, started for this part only, in front of one plaintext
// nginx backend on the upstream CPU.
const (
	ingBackendAddr = "127.0.0.13" // the backend, port 80
	ingEgressAddr  = "127.0.0.30" // the ingress gateway's egress side: DNS, admin
	ingH2Streams   = 4            // HTTP/2 streams per connection; connections: -connections / this
	ingRSSTarget   = 40           // MiB
	ingPickHost    = 25           // the route the TLS loads hit: host h25 ...
	ingPickPath    = 2            // ... path /p2/
)

// ingressProxies are the ingress peers, in the table's column order.
var ingressProxies = []string{"egressgw", "nginx", "haproxy", "caddy"}

// ingressAddrs is where each peer's ingress listens (ports 80 and 443);
// "direct" is the backend itself.
var ingressAddrs = map[string]string{
	"egressgw": "127.0.0.40", // --ingress-addr
	"nginx":    "127.0.0.41",
	"haproxy":  "127.0.0.42",
	"caddy":    "127.0.0.43",
	"direct":   ingBackendAddr,
}

// Figure names: each has req/s (conn/s for new connections), p50, p99 and
// proxy CPU rows.
const (
	figRouting = "HTTP/1.1 routing"
	figTLSH1   = "TLS HTTP/1.1 kept connections"
	figTLSH2   = "TLS HTTP/2 kept connections"
	figNewTLS  = "new TLS connections"
	rowIdleRSS = "ingress idle RSS MiB"
)

// ingressPeer is one proxy of the ingress part.
type ingressPeer struct {
	name  string
	proc  *proc
	start func() (*proc, error)
	noTLS bool // failed the TLS checks: measured on port 80 only
}

func (p *ingressPeer) restart() error {
	p.proc.stop()
	var err error
	p.proc, err = p.start()
	return err
}

// ingress measures the ingress part. egressgw is left out of the figures
// it fails the checks of (all while its build serves no ingress, the TLS
// ones while it has no server certificates), with a note saying why.
func (w *world) ingress(r *report) error {
	if !w.opts.ingress {
		return nil
	}
	cols := append(append([]string(nil), ingressProxies...), "direct")
	t := r.newTable("Ingress", fmt.Sprintf("Istio Gateway + VirtualService (egressgw `--ingress-addr`) against nginx, HAProxy and Caddy (`GOMAXPROCS=1`), "+
		"each serving the same %d routes (%d hosts × %d path prefixes, each setting a response header; no match: 404) on port 80 and on 443 "+
		"(TLS 1.3 only, ECDSA P-256 certificate, HTTP/1.1 and HTTP/2 by ALPN), to one nginx backend on CPU 1 answering %d bytes over kept connections. "+
		"%s: wrk rotating through every route by Host and path; %s: wrk to route h%d%s; %s: h2load `-c%d -m%d` (the same streams in flight); "+
		"%s: wrk with `Connection: close`, one request per full handshake (no resumption); idle RSS: a fresh process with the routes loaded",
		ingressHosts*ingressPaths, ingressHosts, ingressPaths, ingressBodyLen,
		figRouting, figTLSH1, ingPickHost, ingressPath(ingPickPath), figTLSH2, max(1, w.opts.conns/ingH2Streams), ingH2Streams, figNewTLS), cols)
	keptRows(t, figRouting)
	keptRows(t, figTLSH1)
	keptRows(t, figTLSH2)
	t.row(figNewTLS+" conn/s", higher, "≥ 0.9× best peer", atLeast(0.9))
	t.row(figNewTLS+" p50 ms", lower, "", nil)
	t.row(figNewTLS+" p99 ms", lower, "", nil)
	t.row(figNewTLS+" proxy CPU µs/handshake", lower, "", nil)
	t.row(rowIdleRSS, lower, fmt.Sprintf("≤ %d MiB", ingRSSTarget), func(m map[string]float64) bool { return m["egressgw"] <= ingRSSTarget })

	files, pool, err := w.ingressCerts()
	if err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	conf, err := w.renderIngress("ingress-backend.conf", ingressBackendConf, "direct", files)
	if err != nil {
		return err
	}
	backend, err := w.start("ingress-backend", upstreamCPU, nil, "nginx", "-p", w.dir, "-c", conf, "-e", w.path("ingress-backend.err"), "-g", "daemon off;")
	if err != nil {
		return err
	}
	defer backend.stop()
	if err := waitTCP(backend, ingBackendAddr+":80"); err != nil {
		return err
	}
	peers, err := w.startIngressPeers(t, files, pool)
	defer func() {
		for _, p := range peers {
			p.proc.stop()
		}
	}()
	if err != nil {
		return err
	}
	for run := range min(w.opts.runs, 3) {
		if run > 0 {
			for _, p := range peers {
				if err := p.restart(); err != nil {
					return err
				}
			}
		}
		time.Sleep(time.Second)
		for _, p := range peers {
			t.add(rowIdleRSS, p.name, float64(p.proc.rssKiB())/1024)
		}
	}
	return w.ingressLoads(t, peers)
}

// keptRows adds the rows of a figure over kept connections, with the
// targets of routing and kept TLS.
func keptRows(t *table, fig string) {
	t.row(fig+" req/s", higher, "≥ 1.0× best peer", atLeast(1))
	t.row(fig+" p50 ms", lower, "", nil)
	t.row(fig+" p99 ms", lower, "≤ best peer", atMost(1))
	t.row(fig+" proxy CPU µs/req", lower, "≤ best peer", atMost(1))
}

// ingressLoads warms every peer, then measures each figure, the peers in
// turn in each run.
func (w *world) ingressLoads(t *table, peers []*ingressPeer) error {
	script, err := w.writeRotateScript()
	if err != nil {
		return err
	}
	routing := func(peer string, d time.Duration) (wrkResult, error) {
		return wrkScript(d, w.opts.conns, "http://"+ingressAddrs[peer]+"/", script, ingressDomain(peer))
	}
	pick := func(peer string) string {
		return "https://" + ingressHost(peer, ingPickHost) + ingressPath(ingPickPath) + "x"
	}
	tlsH1 := func(peer string, d time.Duration) (wrkResult, error) { return wrk(d, w.opts.conns, pick(peer)) }
	tlsH2 := func(peer string, d time.Duration) (wrkResult, error) {
		return h2load(d, max(1, w.opts.conns/ingH2Streams), ingH2Streams, pick(peer), w.path("h2load-"+peer+".log"))
	}
	newTLS := func(peer string, d time.Duration) (wrkResult, error) {
		return wrk(d, w.opts.conns, pick(peer), "Connection: close")
	}
	// A short load of each kind first, so that pools and caches are
	// filled before measuring.
	var tlsPeers []*ingressPeer
	for _, p := range peers {
		warms := []ingressLoad{routing}
		if !p.noTLS {
			warms = append(warms, tlsH1, tlsH2)
			tlsPeers = append(tlsPeers, p)
		}
		for _, warm := range warms {
			if _, err := warm(p.name, time.Second); err != nil {
				return fmt.Errorf("warming %s: %w", p.name, err)
			}
		}
	}
	withDirect := append(append([]*ingressPeer(nil), peers...), &ingressPeer{name: "direct"})
	figures := []struct {
		name, rate, cpu string
		peers           []*ingressPeer
		load            ingressLoad
	}{
		{figRouting, "req/s", "µs/req", withDirect, routing},
		{figTLSH1, "req/s", "µs/req", tlsPeers, tlsH1},
		{figTLSH2, "req/s", "µs/req", tlsPeers, tlsH2},
		{figNewTLS, "conn/s", "µs/handshake", tlsPeers, newTLS},
	}
	for _, f := range figures {
		for run := range w.opts.runs {
			for _, p := range inTurnPeers(f.peers, run) {
				profiled := w.profilingAt(ingEgressAddr+":"+adminPort, p.name, "ingress "+f.name)
				err := ingressMeasured(t, p, f.name, f.rate, f.cpu, func(peer string) (wrkResult, error) { return f.load(peer, w.opts.duration) })
				if perr := profiled(); perr != nil && err == nil {
					err = perr
				}
				if err != nil {
					return fmt.Errorf("%s, %s: %w", f.name, p.name, err)
				}
			}
		}
	}
	return nil
}

// ingressLoad is one load of d against a peer.
type ingressLoad func(peer string, d time.Duration) (wrkResult, error)

func inTurnPeers(peers []*ingressPeer, run int) []*ingressPeer {
	if len(peers) == 0 {
		return nil
	}
	k := run % len(peers)
	return append(append([]*ingressPeer(nil), peers[k:]...), peers[:k]...)
}

// ingressMeasured runs one load against peer p and adds its figures, with
// the proxy's CPU time per request.
func ingressMeasured(t *table, p *ingressPeer, fig, rate, cpu string, load func(string) (wrkResult, error)) error {
	var cpu0 time.Duration
	if p.proc != nil {
		cpu0 = p.proc.cpuTime()
	}
	res, err := load(p.name)
	if err != nil {
		return err
	}
	if res.non2xx > 0 || res.sockErrs > 0 {
		t.note(fmt.Sprintf("%s %s: %.0f non-2xx answers, %.0f socket errors in a run", p.name, fig, res.non2xx, res.sockErrs))
	}
	if res.requests == 0 { // a rate of 0 and no latency: not a sample
		t.note(fmt.Sprintf("%s %s: no request completed in a run (left out of the medians)", p.name, fig))
		return nil
	}
	t.add(fig+" "+rate, p.name, res.rps)
	t.add(fig+" p50 ms", p.name, ms(res.p50))
	t.add(fig+" p99 ms", p.name, ms(res.p99))
	if p.proc != nil {
		t.add(fig+" proxy CPU "+cpu, p.name, float64((p.proc.cpuTime()-cpu0).Microseconds())/res.requests)
	}
	return nil
}
