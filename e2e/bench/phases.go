//go:build linux

package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// httpPeers are the proxies in the order of the table's columns; "direct"
// is the client talking to the upstream itself.
var httpPeers = []string{"egressgw", "nginx", "haproxy", "direct"}

func (w *world) proxy(peer string) *proc {
	return map[string]*proc{"egressgw": w.egressgw, "nginx": w.nginx, "haproxy": w.haproxy}[peer]
}

// originationURL is where the client sends plain HTTP for peer to originate
// TLS; the direct path is HTTPS to the upstream.
func originationURL(peer string) string {
	switch peer {
	case "egressgw":
		return "http://" + egressgwAddr + "/"
	case "nginx":
		return "http://" + nginxAddr + "/"
	case "haproxy":
		return "http://" + haproxyAddr + "/"
	}
	return "https://" + originName + "/"
}

// measured runs one wrk load against peer and adds its figures to the
// rows, with the proxy's CPU time per request.
func (w *world) measured(peer string, t *table, prefix string, url string, headers ...string) error {
	p := w.proxy(peer)
	var cpu0 time.Duration
	if p != nil {
		cpu0 = p.cpuTime()
	}
	profiled := w.profiling(peer, prefix)
	res, err := wrk(w.opts.duration, w.opts.conns, url, headers...)
	if perr := profiled(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		return err
	}
	if res.non2xx > 0 || res.sockErrs > 0 {
		t.note(fmt.Sprintf("%s %s: %.0f non-2xx answers, %.0f socket errors in a run", peer, prefix, res.non2xx, res.sockErrs))
	}
	t.add(prefix+" req/s", peer, res.rps)
	if t.has(prefix + " p50 ms") {
		t.add(prefix+" p50 ms", peer, ms(res.p50))
	}
	t.add(prefix+" p99 ms", peer, ms(res.p99))
	if p != nil && res.requests > 0 {
		t.add(prefix+" proxy CPU µs/req", peer, float64((p.cpuTime()-cpu0).Microseconds())/res.requests)
	}
	return nil
}

// profiling starts cpuProfile for a load of peer's that is starting, if
// it is egressgw's and profiles were asked for; the function it returns
// waits for the profile.
func (w *world) profiling(peer, figure string) func() error {
	return w.profilingAt(egressgwAddr+":"+adminPort, peer, figure)
}

// profilingAt is profiling of the gateway whose admin address is admin.
func (w *world) profilingAt(admin, peer, figure string) func() error {
	if peer != "egressgw" || w.opts.profile == "" {
		return func() error { return nil }
	}
	done := make(chan error, 1)
	go func() { done <- w.cpuProfile(admin, figure) }()
	return func() error { return <-done }
}

// cpuProfile saves egressgw's CPU profile of the load that is starting
// (all but its first and last half second) as <dir>/<figure>.cpu.pprof,
// then its allocations over the same span as <dir>/<figure>.allocs.pprof
// (compare with -diff_base ...allocs-base.pprof, taken as the load began).
func (w *world) cpuProfile(admin, figure string) error {
	secs := max(1, int((w.opts.duration-time.Second)/time.Second))
	time.Sleep(500 * time.Millisecond)
	base := strings.NewReplacer(" ", "-", ":", "", "/", "").Replace(figure)
	if err := w.saveProfile(admin, "allocs", base+".allocs-base.pprof"); err != nil {
		return err
	}
	if err := w.saveProfile(admin, "profile?seconds="+strconv.Itoa(secs), base+".cpu.pprof"); err != nil {
		return err
	}
	return w.saveProfile(admin, "allocs", base+".allocs.pprof")
}

// saveProfile fetches /debug/pprof/<what> from the gateway's admin address
// into the profile directory.
func (w *world) saveProfile(admin, what, name string) error {
	resp, err := http.Get("http://" + admin + "/debug/pprof/" + what)
	if err != nil {
		return fmt.Errorf("profile %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("profile %s: status %d, %v", name, resp.StatusCode, err)
	}
	if err := os.MkdirAll(w.opts.profile, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(w.opts.profile, name), b, 0o644)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// warm runs a short load so that every pool is filled before measuring.
func (w *world) warm(url string, headers ...string) error {
	_, err := wrk(time.Second, w.opts.conns, url, headers...)
	return err
}

func (w *world) origination(r *report) error {
	t := r.newTable("TLS origination", "plain HTTP/1.1 in with keep-alive, HTTPS out with certificate verification and SNI, to one nginx upstream", httpPeers)
	t.row("origination req/s", higher, "≥ 1.2× best peer", atLeast(1.2))
	t.row("origination p50 ms", lower, "", nil)
	t.row("origination p99 ms", lower, "≤ best peer", atMost(1))
	t.row("origination proxy CPU µs/req", lower, "< both peers", below())
	host := "Host: " + originName
	// Istio's default for a port declared HTTP, without h2UpgradePolicy:
	// egressgw only, measured in turn with the peers so that the VM's drift
	// weighs on both alike.
	const h1Prefix = "HTTP/1.1 upstream: origination"
	h1Host := "Host: " + originH1Name
	egressgwRows(t, h1Prefix)
	for _, peer := range httpPeers {
		if err := w.warm(originationURL(peer), host); err != nil {
			return err
		}
	}
	if err := w.warm(originationURL("egressgw"), h1Host); err != nil {
		return err
	}
	for run := range w.opts.runs {
		for _, peer := range inTurn(httpPeers, run) {
			if err := w.measured(peer, t, "origination", originationURL(peer), host); err != nil {
				return err
			}
		}
		if err := w.measured("egressgw", t, h1Prefix, originationURL("egressgw"), h1Host); err != nil {
			return err
		}
	}
	return w.withAccessLog(t, host)
}

// inTurn is peers in the order of run number run: each run starts with
// the next peer, so that none always goes first (after a warm-up, or
// after the connection churn of the phase before) or always last.
func inTurn(peers []string, run int) []string {
	k := run % len(peers)
	return append(slices.Clone(peers[k:]), peers[:k]...)
}

// egressgwRows adds the rows of an egressgw-only origination figure.
func egressgwRows(t *table, prefix string) {
	t.row(prefix+" req/s", higher, "", nil)
	t.row(prefix+" p99 ms", lower, "", nil)
	t.row(prefix+" proxy CPU µs/req", lower, "", nil)
}

// withAccessLog measures egressgw again with its default access log (a JSON
// line per request to a file), for what the log costs; the other peers are
// not measured with theirs.
func (w *world) withAccessLog(t *table, host string) error {
	w.egressgw.stop()
	var err error
	if w.egressgw, err = w.startEgressgw(true); err != nil {
		return err
	}
	const prefix = "access log on: origination"
	egressgwRows(t, prefix)
	if err := w.warm(originationURL("egressgw"), host); err != nil {
		return err
	}
	for range w.opts.runs {
		if err := w.measured("egressgw", t, prefix, originationURL("egressgw"), host); err != nil {
			return err
		}
	}
	w.egressgw.stop()
	w.egressgw, err = w.startEgressgw(false)
	return err
}

func (w *world) passthrough(r *report) error {
	t := r.newTable("SNI passthrough", "TLS from the client to the upstream, routed by the ClientHello's SNI, not decrypted", httpPeers)
	t.row("kept connections req/s", higher, "≥ 1.1× best peer", atLeast(1.1))
	t.row("kept connections p50 ms", lower, "", nil)
	t.row("kept connections p99 ms", lower, "", nil)
	t.row("kept connections proxy CPU µs/req", lower, "", nil)
	t.row("new TLS connections req/s", higher, "≥ 1.1× best peer", atLeast(1.1))
	t.row("new TLS connections p99 ms", lower, "", nil)
	t.row("new TLS connections proxy CPU µs/req", lower, "", nil)
	t.row("bulk MB/s", higher, "≥ 0.9× direct", atLeastDirect(0.9))
	url := func(peer, path string) string { return "https://" + ptName(peer) + path }
	for _, peer := range httpPeers {
		if err := w.warm(url(peer, "/")); err != nil {
			return err
		}
	}
	for run := range w.opts.runs {
		for _, peer := range inTurn(httpPeers, run) {
			if err := w.measured(peer, t, "kept connections", url(peer, "/")); err != nil {
				return err
			}
		}
	}
	for run := range w.opts.runs {
		for _, peer := range inTurn(httpPeers, run) {
			if err := w.measured(peer, t, "new TLS connections", url(peer, "/"), "Connection: close"); err != nil {
				return err
			}
		}
	}
	for run := range min(w.opts.runs, 3) {
		for _, peer := range inTurn(httpPeers, run) {
			bps, err := curlSpeed(url(peer, "/big"), w.caFile)
			if err != nil {
				return err
			}
			t.add("bulk MB/s", peer, bps/1e6)
		}
	}
	return nil
}

func (w *world) dns(r *report) error {
	peers := []string{"egressgw", "dnsmasq"}
	servers := map[string]string{"egressgw": egressgwAddr, "dnsmasq": dnsmasqAddr}
	if w.coredns != nil {
		peers = append(peers, "coredns")
		servers["coredns"] = corednsAddr
	}
	t := r.newTable("DNS", "dnsperf, 50/50 mix: names the server answers itself and names it forwards to a local upstream dnsmasq; no cache anywhere (dnsmasq --cache-size=0, CoreDNS without its cache plugin); the flood: unique forwarded names at 7k/s from 8 client addresses to a gateway of its own whose upstream never answers, for the run's length", peers)
	t.row("queries/s", higher, "≥ dnsmasq and ≥ 1.5× CoreDNS", dnsQPSTarget)
	t.row("average latency ms", lower, "", nil)
	t.row("p99 latency ms", lower, "≤ dnsmasq", atMostPeer("dnsmasq"))
	fixed := fmt.Sprintf("at %dk queries/s offered: ", dnsFixedRate/1000)
	t.row(fixed+"average latency ms", lower, "", nil)
	t.row(fixed+"p99 latency ms", lower, "", nil)
	for _, prefix := range []string{"", fixed} {
		t.row(prefix+"p99 ms, names answered locally", lower, "", nil)
		t.row(prefix+"p99 ms, names forwarded", lower, "", nil)
	}
	floodRows(t)
	queries := w.path("queries.txt")
	var b strings.Builder
	for i := range 500 {
		fmt.Fprintf(&b, "r%d.%s A\nh%d.%s A\n", i, regZone, i, fwdZone)
	}
	if err := os.WriteFile(queries, []byte(b.String()), 0o644); err != nil {
		return err
	}
	for run := range w.opts.runs {
		for _, peer := range inTurn(peers, run) {
			for _, rate := range []int{0, dnsFixedRate} {
				figure := "dns saturation"
				if rate > 0 {
					figure = fmt.Sprintf("dns %dk", rate/1000)
				}
				profiled := w.profiling(peer, figure)
				res, err := dnsperf(w.opts.duration, servers[peer], queries, rate)
				if perr := profiled(); perr != nil && err == nil {
					err = perr
				}
				if err != nil {
					return err
				}
				if res.lost > 0 || res.bad > 0 {
					t.note(fmt.Sprintf("%s: %.0f queries lost, %.0f answers not NOERROR in a run", peer, res.lost, res.bad))
				}
				prefix := ""
				if rate > 0 {
					prefix = fixed
				} else {
					t.add("queries/s", peer, res.qps)
				}
				t.add(prefix+"average latency ms", peer, ms(res.avg))
				t.add(prefix+"p99 latency ms", peer, ms(res.p99))
				t.add(prefix+"p99 ms, names answered locally", peer, ms(res.p99Local))
				t.add(prefix+"p99 ms, names forwarded", peer, ms(res.p99Forwarded))
			}
		}
		if err := w.dnsFlood(t); err != nil {
			return fmt.Errorf("flood: %w", err)
		}
	}
	return nil
}

// memory restarts each proxy, takes its idle RSS, then holds w.opts.hold
// passthrough connections through it (each with its TLS handshake done end
// to end) and reports the growth per connection.
func (w *world) memory(r *report) error {
	peers := httpPeers[:3]
	t := r.newTable("Memory", fmt.Sprintf("RSS of a freshly started proxy, then with %d idle passthrough TLS connections held through it", w.opts.hold), peers)
	t.row("idle RSS MiB", lower, "≤ 30 MiB", func(v map[string]float64) bool { return v["egressgw"] <= 30 })
	t.row("KiB per held connection", lower, "≤ HAProxy", atMostPeer("haproxy"))
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(w.caFile)
	if err != nil {
		return err
	}
	pool.AppendCertsFromPEM(ca)
	for run := range min(w.opts.runs, 3) {
		for _, peer := range inTurn(peers, run) {
			p, err := w.restart(peer)
			if err != nil {
				return err
			}
			time.Sleep(time.Second)
			idle := p.rssKiB()
			t.add("idle RSS MiB", peer, float64(idle)/1024)
			conns, err := holdConns(ptName(peer)+":443", pool, w.opts.hold)
			if err != nil {
				return fmt.Errorf("%s: %w", peer, err)
			}
			time.Sleep(2 * time.Second)
			held := p.rssKiB()
			for _, c := range conns {
				c.Close()
			}
			t.add("KiB per held connection", peer, float64(held-idle)/float64(len(conns)))
		}
	}
	// Leave fresh proxies for the phases after this one.
	for _, peer := range peers {
		if _, err := w.restart(peer); err != nil {
			return err
		}
	}
	return nil
}

func (w *world) restart(peer string) (*proc, error) {
	p := w.proxy(peer)
	p.stop()
	var err error
	switch peer {
	case "egressgw":
		w.egressgw, err = w.startEgressgw(false)
		return w.egressgw, err
	case "nginx":
		w.nginx, err = startProc(p.name, p.log, nil, p.cmd.Args...)
		if err == nil {
			err = waitTCP(w.nginx, nginxAddr+":443")
		}
		return w.nginx, err
	default:
		w.haproxy, err = startProc(p.name, p.log, nil, p.cmd.Args...)
		if err == nil {
			err = waitTCP(w.haproxy, haproxyAddr+":443")
		}
		return w.haproxy, err
	}
}

// holdConns opens n TLS connections to addr, 64 at a time, and returns them
// open.
func holdConns(addr string, pool *x509.CertPool, n int) ([]*tls.Conn, error) {
	host, _, _ := strings.Cut(addr, ":")
	conns := make([]*tls.Conn, n)
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: host, RootCAs: pool})
			if err != nil {
				errs <- err
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, fmt.Errorf("holding %d connections to %s: %w (and %d more failures)", n, addr, err, len(errs))
	}
	return conns, nil
}

// reload rewrites a config file of the gateway every second during an
// origination load and counts what the client lost.
func (w *world) reload(r *report) error {
	d := max(10*time.Second, w.opts.duration)
	before, err := w.reloads()
	if err != nil {
		return err
	}
	done := make(chan struct{})
	var writeErr error
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; i < int(d/time.Second)-1; i++ {
			<-tick.C
			se := fmt.Sprintf("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: reload, namespace: bench}\nspec:\n  hosts: [reload-%d.bench.test]\n  location: MESH_EXTERNAL\n  ports: [{number: 443, name: tls, protocol: TLS}]\n", i)
			tmp := filepath.Join(w.egwConfig, ".reload.tmp")
			if err := os.WriteFile(tmp, []byte(se), 0o644); err != nil {
				writeErr = err
				return
			}
			if err := os.Rename(tmp, filepath.Join(w.egwConfig, "reload.yaml")); err != nil {
				writeErr = err
				return
			}
		}
	}()
	res, err := wrk(d, w.opts.conns, originationURL("egressgw"), "Host: "+originName)
	<-done
	if err != nil {
		return err
	}
	if writeErr != nil {
		return writeErr
	}
	after, err := w.reloads()
	if err != nil {
		return err
	}
	n := after - before
	r.reloadOK = res.non2xx == 0 && res.sockErrs == 0 && n >= float64(int(d/time.Second)-2)
	r.reloadNote = fmt.Sprintf("%.0f successful reloads during a %s origination run of %.0f requests (%.0f req/s): %.0f non-2xx answers, %.0f socket errors",
		n, d, res.requests, res.rps, res.non2xx, res.sockErrs)
	return nil
}

var reloadsMetric = regexp.MustCompile(`(?m)^egressgw_config_reloads_total\{result="success"\} (\S+)$`)

func (w *world) reloads() (float64, error) {
	v, _, err := metric(egressgwAddr+":"+adminPort, reloadsMetric) // none matching: no reload yet, 0
	return v, err
}
