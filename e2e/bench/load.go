//go:build linux

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// wrkResult is what one wrk run reports.
type wrkResult struct {
	requests float64 // completed requests
	rps      float64
	p50, p99 time.Duration
	non2xx   float64
	sockErrs float64 // connect, read, write and timeout errors together
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	wrkTotal    = regexp.MustCompile(`(\d+) requests in`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses:\s+(\d+)`)
	wrkSockErrs = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// wrk runs one load of d with conns connections on one thread.
func wrk(d time.Duration, conns int, url string, headers ...string) (wrkResult, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v: %s", url, err, out)
	}
	return parseWrk(string(out))
}

func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	m := wrkRPS.FindStringSubmatch(out)
	t := wrkTotal.FindStringSubmatch(out)
	if m == nil || t == nil {
		return r, fmt.Errorf("wrk printed no request rate:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.requests, _ = strconv.ParseFloat(t[1], 64)
	for _, p := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(p[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[p[3]]
		d := time.Duration(v * float64(unit))
		if p[1] == "50" {
			r.p50 = d
		} else {
			r.p99 = d
		}
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.non2xx, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := wrkSockErrs.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.ParseFloat(s, 64)
			r.sockErrs += n
		}
	}
	return r, nil
}

// dnsperfResult is one dnsperf run.
type dnsperfResult struct {
	qps      float64
	avg, p99 time.Duration
	// p99 of the names answered locally, and of those forwarded upstream
	p99Local, p99Forwarded time.Duration
	lost                   float64
	bad                    float64 // answers other than NOERROR
}

var (
	dnsperfQPS  = regexp.MustCompile(`Queries per second:\s+([\d.]+)`)
	dnsperfLost = regexp.MustCompile(`Queries lost:\s+(\d+)`)
)

// dnsFixedRate is the offered load of the DNS latency figures taken below
// saturation, under every peer's maximum here. At saturation dnsperf keeps
// 200 queries outstanding, so latency there is queueing: a server that
// answers its own names faster leaves more of the 200 waiting on the
// upstream, whose answers then look slower.
const dnsFixedRate = 20000

// dnsperf runs one load against server with the query file, reading each
// query's latency from verbose output for the average and the p99. rate
// limits the queries sent per second; 0 sends as fast as answers come.
func dnsperf(d time.Duration, server, queries string, rate int) (dnsperfResult, error) {
	secs := strconv.Itoa(int(d.Round(time.Second) / time.Second))
	args := []string{"-s", server, "-p", "53", "-d", queries, "-l", secs, "-c", "8", "-q", "200", "-v"}
	if rate > 0 {
		args = append(args, "-Q", strconv.Itoa(rate))
	}
	cmd := exec.Command("dnsperf", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return dnsperfResult{}, err
	}
	if err := cmd.Start(); err != nil {
		return dnsperfResult{}, err
	}
	var r dnsperfResult
	var lat, local, forwarded []time.Duration
	var rest strings.Builder
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "> ") {
			rest.WriteString(line + "\n")
			continue
		}
		f := strings.Fields(line) // > RCODE name type latency
		if len(f) != 5 {
			continue
		}
		if f[1] != "NOERROR" {
			r.bad++
		}
		if s, err := strconv.ParseFloat(f[4], 64); err == nil {
			l := time.Duration(s * float64(time.Second))
			lat = append(lat, l)
			if strings.HasSuffix(strings.TrimSuffix(f[2], "."), regZone) {
				local = append(local, l)
			} else {
				forwarded = append(forwarded, l)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		return r, fmt.Errorf("dnsperf %s: %v: %s %s", server, err, stderr.String(), rest.String())
	}
	m := dnsperfQPS.FindStringSubmatch(rest.String())
	if m == nil || len(lat) == 0 {
		return r, fmt.Errorf("dnsperf %s printed no rate:\n%s", server, rest.String())
	}
	r.qps, _ = strconv.ParseFloat(m[1], 64)
	if m := dnsperfLost.FindStringSubmatch(rest.String()); m != nil {
		r.lost, _ = strconv.ParseFloat(m[1], 64)
	}
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	r.avg = sum / time.Duration(len(lat))
	r.p99, r.p99Local, r.p99Forwarded = p99(lat), p99(local), p99(forwarded)
	return r, nil
}

// p99 returns the 99th percentile of lat, sorting it; 0 for none.
func p99(lat []time.Duration) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[len(lat)*99/100]
}

// curlSpeed downloads url once and returns the rate in bytes/s.
func curlSpeed(url, caFile string) (float64, error) {
	out, err := exec.Command("curl", "-sS", "--fail", "--cacert", caFile, "-o", "/dev/null", "-w", "%{speed_download}", url).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("curl %s: %v: %s", url, err, out)
	}
	var speed float64
	if _, err := fmt.Sscan(string(out), &speed); err != nil {
		return 0, fmt.Errorf("curl %s: %q: %v", url, out, err)
	}
	return speed, nil
}

// waitDNS waits until server answers an A query for name.
func waitDNS(p *proc, server, name string) error {
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	m := new(dns.Msg).SetQuestion(dns.Fqdn(name), dns.TypeA)
	return poll(p, func() error {
		r, _, err := c.Exchange(m, server)
		if err != nil {
			return err
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) == 0 {
			return fmt.Errorf("%s: %s with %d answers", name, dns.RcodeToString[r.Rcode], len(r.Answer))
		}
		return nil
	})
}
