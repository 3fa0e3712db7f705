//go:build linux

package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// rotateScript is wrk's script for the routing figure: the requests of
// every route, made once, sent in turn (host by host, each host's path
// prefixes in order). Its argument is the peer's domain.
const rotateScript = `
local reqs = {}
local n = 0
init = function(args)
	for h = 0, {{.Hosts}} - 1 do
		for p = 0, {{.Paths}} - 1 do
			reqs[#reqs + 1] = wrk.format("GET", "/p" .. p .. "/x", {Host = "h" .. h .. "." .. args[1]})
		end
	end
end
request = function()
	n = n % #reqs + 1
	return reqs[n]
end
`

// writeRotateScript writes rotateScript to the run's directory.
func (w *world) writeRotateScript() (string, error) {
	s := strings.NewReplacer("{{.Hosts}}", strconv.Itoa(ingressHosts), "{{.Paths}}", strconv.Itoa(ingressPaths)).Replace(rotateScript)
	path := w.path("rotate.lua")
	return path, os.WriteFile(path, []byte(s), 0o644)
}

// wrkScript runs one wrk load of d with conns connections on one thread,
// its requests made by the Lua script, which gets args.
func wrkScript(d time.Duration, conns int, url, script string, args ...string) (wrkResult, error) {
	argv := []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency", "-s", script, url}
	if len(args) > 0 {
		argv = append(append(argv, "--"), args...)
	}
	out, err := exec.Command("wrk", argv...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk %s: %v: %s", url, err, out)
	}
	return parseWrk(string(out))
}

// h2load runs one HTTP/2 load of d (whole milliseconds) on one thread with
// clients connections of streams concurrent streams each, writing each
// request's latency to logFile, from which p50 and p99 come.
func h2load(d time.Duration, clients, streams int, url, logFile string) (wrkResult, error) {
	args := []string{"-t1", "-c" + strconv.Itoa(clients), "-m" + strconv.Itoa(streams),
		"-D", strconv.FormatInt(d.Milliseconds(), 10) + "ms", "--log-file", logFile, url}
	out, err := exec.Command("h2load", args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("h2load %s: %v: %s", url, err, out)
	}
	r, err := parseH2load(string(out))
	if err != nil {
		return r, err
	}
	f, err := os.Open(logFile)
	if err != nil {
		return r, fmt.Errorf("h2load log: %w", err)
	}
	defer f.Close()
	lat, err := h2loadLatencies(f)
	if err != nil {
		return r, fmt.Errorf("h2load log %s: %w", logFile, err)
	}
	if len(lat) == 0 {
		return r, fmt.Errorf("h2load %s: no request completed:\n%s", url, out)
	}
	r.p50, r.p99 = percentile(lat, 50), percentile(lat, 99)
	return r, nil
}

var (
	h2loadRPS      = regexp.MustCompile(`finished in [\d.]+\w+, ([\d.]+) req/s`)
	h2loadRequests = regexp.MustCompile(`requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout`)
	h2loadStatus   = regexp.MustCompile(`status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx`)
)

// parseH2load reads h2load's summary: the rate, the requests that
// succeeded, failures (failed, errored, timed out: socket errors) and the
// answers other than 2xx.
func parseH2load(out string) (wrkResult, error) {
	var r wrkResult
	m := h2loadRPS.FindStringSubmatch(out)
	q := h2loadRequests.FindStringSubmatch(out)
	if m == nil || q == nil {
		return r, fmt.Errorf("h2load printed no request rate:\n%s", out)
	}
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	r.requests, _ = strconv.ParseFloat(q[1], 64)
	for _, s := range q[2:] {
		n, _ := strconv.ParseFloat(s, 64)
		r.sockErrs += n
	}
	if s := h2loadStatus.FindStringSubmatch(out); s != nil {
		for _, v := range s[1:] {
			n, _ := strconv.ParseFloat(v, 64)
			r.non2xx += n
		}
	}
	return r, nil
}

// h2loadLatencies reads h2load's --log-file (start µs, status, µs to the
// end of the response, tab-separated; status -1 for a failed stream) and
// returns the latencies of the streams that did not fail.
func h2loadLatencies(f io.Reader) ([]time.Duration, error) {
	var lat []time.Duration
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 3 {
			return nil, fmt.Errorf("line %d: %d columns, want 3", n, len(cols))
		}
		if cols[1] == "-1" {
			continue
		}
		us, err := strconv.ParseInt(cols[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("line %d: latency %q: %w", n, cols[2], err)
		}
		lat = append(lat, time.Duration(us)*time.Microsecond)
	}
	return lat, sc.Err()
}

// percentile is the q-th percentile of lat, sorting it; 0 for none.
func percentile(lat []time.Duration, q int) time.Duration {
	if len(lat) == 0 {
		return 0
	}
	slices.Sort(lat)
	return lat[min(len(lat)-1, len(lat)*q/100)]
}
