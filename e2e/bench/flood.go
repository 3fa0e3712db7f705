//go:build linux

package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
)

// The DNS flood: unique forwarded names to an upstream that never answers,
// the load that had grown the gateway to 19k goroutines and 554 MB before
// forwarding was bounded (--dns-forward-max). A gateway of its own takes
// it, so that the main one's figures are not touched.
const (
	floodGatewayAddr = "127.0.0.25" // the gateway under the flood
	silentDNSAddr    = "127.0.0.12" // its upstream: a socket nobody reads
	floodRate        = 7000         // queries a second
	floodSources     = 8            // client addresses: together past the global bound, each past its share
	floodLocalEvery  = 10 * time.Millisecond
	floodRSSTarget   = 64 // MiB
)

// floodRows adds the flood's rows to the DNS table.
func floodRows(t *table) {
	t.row("flood, silent upstream: peak RSS MiB", lower, fmt.Sprintf("≤ %d MiB", floodRSSTarget),
		func(m map[string]float64) bool { return m["egressgw"] <= floodRSSTarget })
	t.row("flood: RSS MiB before it", lower, "", nil)
	t.row("flood: goroutines at the end of the flood", lower, "", nil)
	t.row("flood: queries/s answered SERVFAIL over the limit", higher, "", nil)
	t.row("flood: p99 ms, names answered locally", lower, "", nil)
}

// floodResult is what one flood measured.
type floodResult struct {
	peakKiB    int64
	goroutines float64
	limitedPS  float64
	localP99   time.Duration
	localLost  int
	sent       int
}

// dnsFlood starts a gateway whose upstream never answers, floods it for
// the run's duration with unique forwarded names from floodSources client
// addresses while asking it for a locally answered name every
// floodLocalEvery, and reports its peak RSS (VmHWM).
func (w *world) dnsFlood(t *table) error {
	silent, err := net.ListenPacket("udp", silentDNSAddr+":53")
	if err != nil {
		return fmt.Errorf("silent upstream: %w", err)
	}
	defer silent.Close()
	p, err := w.start("egressgw-flood", proxyCPU, []string{"GOMAXPROCS=1"}, w.opts.bin, "run",
		"--config", w.egwConfig, "--egress-addr", floodGatewayAddr, "--dns-listen", floodGatewayAddr+":53",
		"--dns-upstream", silentDNSAddr+":53", "--admin-listen", floodGatewayAddr+":"+adminPort, "--log-level", "warn")
	if err != nil {
		return err
	}
	defer p.stop()
	if err := waitDNS(p, floodGatewayAddr+":53", "r0."+regZone); err != nil {
		return err
	}
	time.Sleep(time.Second)
	idle := p.rssKiB()
	res, err := flood(p, floodGatewayAddr+":53", w.opts.duration)
	if err != nil {
		return err
	}
	t.add("flood: RSS MiB before it", "egressgw", float64(idle)/1024)
	t.add("flood, silent upstream: peak RSS MiB", "egressgw", float64(res.peakKiB)/1024)
	t.add("flood: goroutines at the end of the flood", "egressgw", res.goroutines)
	t.add("flood: queries/s answered SERVFAIL over the limit", "egressgw", res.limitedPS)
	t.add("flood: p99 ms, names answered locally", "egressgw", ms(res.localP99))
	if res.localLost > 0 {
		t.note(fmt.Sprintf("flood: %d of the locally answered names got no answer in a run", res.localLost))
	}
	fmt.Fprintf(os.Stderr, "dns flood: %d unique names at %d/s to a silent upstream: RSS %.1f MiB before, peak %.1f MiB (target ≤ %d), %.0f goroutines, %.0f/s over the limit, local names p99 %.2f ms\n",
		res.sent, floodRate, float64(idle)/1024, float64(res.peakKiB)/1024, floodRSSTarget, res.goroutines, res.limitedPS, ms(res.localP99))
	return nil
}

// flood sends floodRate unique forwarded names a second to server for d,
// and a locally answered name every floodLocalEvery from another socket.
func flood(p *proc, server string, d time.Duration) (floodResult, error) {
	var res floodResult
	srv, err := net.ResolveUDPAddr("udp", server)
	if err != nil {
		return res, err
	}
	var conns []*net.UDPConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range floodSources {
		c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 1, byte(1+i))}, srv)
		if err != nil {
			return res, fmt.Errorf("flood client: %w", err)
		}
		conns = append(conns, c)
	}
	local, err := net.DialUDP("udp", nil, srv)
	if err != nil {
		return res, err
	}
	conns = append(conns, local)

	// Readers: count the answers over the limit; time the local names.
	var limited atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns[:floodSources] {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readAnswers(c, func(m *dns.Msg) {
				if m.Rcode == dns.RcodeServerFailure && overLimit(m) {
					limited.Add(1)
				}
			})
		}()
	}
	var mu sync.Mutex
	sentAt := map[uint16]time.Time{}
	var lat []time.Duration
	wg.Add(1)
	go func() {
		defer wg.Done()
		readAnswers(local, func(m *dns.Msg) {
			mu.Lock()
			if at, ok := sentAt[m.Id]; ok && m.Rcode == dns.RcodeSuccess && len(m.Answer) == 1 {
				lat = append(lat, time.Since(at))
				delete(sentAt, m.Id)
			}
			mu.Unlock()
		})
	}()

	q := new(dns.Msg)
	q.SetEdns0(1232, false)
	lq := new(dns.Msg).SetQuestion("r1."+regZone+".", dns.TypeA)
	start := time.Now()
	nextLocal := start
	var localSent int
	for tick := start; time.Since(start) < d; tick = tick.Add(time.Millisecond) {
		time.Sleep(time.Until(tick))
		due := int(time.Since(start) * floodRate / time.Second)
		for ; res.sent < due; res.sent++ {
			q.SetQuestion(fmt.Sprintf("f%d.%s.", res.sent, fwdZone), dns.TypeA)
			q.Id = uint16(res.sent)
			b, err := q.Pack()
			if err != nil {
				return res, err
			}
			_, _ = conns[res.sent%floodSources].Write(b) // a full socket buffer drops it, as a flood would
		}
		if now := time.Now(); !now.Before(nextLocal) {
			nextLocal = nextLocal.Add(floodLocalEvery)
			lq.Id = uint16(localSent)
			b, _ := lq.Pack()
			mu.Lock()
			sentAt[lq.Id] = time.Now()
			mu.Unlock()
			_, _ = local.Write(b)
			localSent++
		}
	}
	elapsed := time.Since(start)
	if res.goroutines, err = goroutines(floodGatewayAddr + ":" + adminPort); err != nil {
		return res, err
	}
	time.Sleep(200 * time.Millisecond)  // the last answers
	res.peakKiB = p.statusKiB("VmHWM:") // the kernel's high-water mark of its RSS
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now())
	}
	wg.Wait()
	res.limitedPS = float64(limited.Load()) / elapsed.Seconds()
	mu.Lock()
	res.localLost = len(sentAt)
	res.localP99 = p99(slices.Clone(lat))
	mu.Unlock()
	if p.exited() {
		return res, fmt.Errorf("the gateway exited under the flood: %s", p.tail())
	}
	return res, nil
}

// readAnswers reads DNS messages from c until a read fails (its deadline, or
// its close) and hands each one that unpacks to answer. The message is reused
// from one read to the next: answer must not keep it.
func readAnswers(c *net.UDPConn, answer func(m *dns.Msg)) {
	buf := make([]byte, 4096)
	m := new(dns.Msg)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if m.Unpack(buf[:n]) == nil {
			answer(m)
		}
	}
}

// overLimit reports whether m carries the EDE of a query over a forwarding
// bound.
func overLimit(m *dns.Msg) bool {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_EDE); ok && strings.Contains(e.ExtraText, "--dns-forward-max") {
				return true
			}
		}
	}
	return false
}

var goroutinesMetric = regexp.MustCompile(`(?m)^go_goroutines (\S+)$`)

// goroutines is the gateway's go_goroutines, from its admin address.
func goroutines(admin string) (float64, error) {
	v, ok, err := metric(admin, goroutinesMetric)
	if err == nil && !ok {
		return 0, fmt.Errorf("%s/metrics has no go_goroutines", admin)
	}
	return v, err
}

// metric reads the gateway's /metrics from its admin address and parses the
// first submatch of re, one line's value; ok is false when no line matches.
func metric(admin string, re *regexp.Regexp) (v float64, ok bool, err error) {
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false, err
	}
	m := re.FindSubmatch(b)
	if m == nil {
		return 0, false, nil
	}
	v, err = strconv.ParseFloat(string(m[1]), 64)
	return v, true, err
}
