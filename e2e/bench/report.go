//go:build linux

package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// report collects the tables of a run.
type report struct {
	opts       options
	started    time.Time
	tables     []*table
	reloadOK   bool
	reloadNote string
}

// table is one section: a figure per row, a column per peer.
type table struct {
	title, setup string
	peers        []string // egressgw first; "direct" last when present
	rows         []*row
	notes        []string
}

type direction bool

const (
	higher direction = true
	lower  direction = false
)

// row is one figure. target, given each column's median, says whether
// egressgw meets the goal.
type row struct {
	name    string
	dir     direction
	goal    string
	target  func(medians map[string]float64) bool
	samples map[string][]float64
}

func (r *report) newTable(title, setup string, peers []string) *table {
	t := &table{title: title, setup: setup, peers: peers}
	r.tables = append(r.tables, t)
	return t
}

func (t *table) row(name string, dir direction, goal string, target func(map[string]float64) bool) {
	t.rows = append(t.rows, &row{name: name, dir: dir, goal: goal, target: target, samples: map[string][]float64{}})
}

func (t *table) add(name, peer string, v float64) {
	for _, r := range t.rows {
		if r.name == name {
			r.samples[peer] = append(r.samples[peer], v)
			return
		}
	}
	panic("bench: no row " + name)
}

func (t *table) has(name string) bool {
	return slices.ContainsFunc(t.rows, func(r *row) bool { return r.name == name })
}

func (t *table) note(s string) {
	if !slices.Contains(t.notes, s) {
		t.notes = append(t.notes, s)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Targets, given the medians of a row.

func bestPeer(m map[string]float64, dir direction) float64 {
	best := math.NaN()
	for peer, v := range m {
		if peer == "egressgw" || peer == "direct" || math.IsNaN(v) {
			continue
		}
		if math.IsNaN(best) || (dir == higher && v > best) || (dir == lower && v < best) {
			best = v
		}
	}
	return best
}

func atLeast(f float64) func(map[string]float64) bool {
	return func(m map[string]float64) bool { return m["egressgw"] >= f*bestPeer(m, higher) }
}

func atMost(f float64) func(map[string]float64) bool {
	return func(m map[string]float64) bool { return m["egressgw"] <= f*bestPeer(m, lower) }
}

func below() func(map[string]float64) bool {
	return func(m map[string]float64) bool { return m["egressgw"] < bestPeer(m, lower) }
}

func atLeastDirect(f float64) func(map[string]float64) bool {
	return func(m map[string]float64) bool { return m["egressgw"] >= f*m["direct"] }
}

func atMostPeer(peer string) func(map[string]float64) bool {
	return func(m map[string]float64) bool { return m["egressgw"] <= m[peer] }
}

func dnsQPSTarget(m map[string]float64) bool {
	ok := m["egressgw"] >= m["dnsmasq"]
	if c, has := m["coredns"]; has {
		ok = ok && m["egressgw"] >= 1.5*c
	}
	return ok
}

// render writes the report as Markdown.
func (r *report) render(versions []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# egressgw benchmarks, %s\n\n", r.started.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s, CPUs %s, Linux %s, %s.\n\n", cpuModel(), cpusOnline(), kernel(), runtime.Version())
	for _, v := range versions {
		fmt.Fprintf(&b, "- %s\n", v)
	}
	fmt.Fprintf(&b, "\nEach proxy and DNS server runs on CPU 0 with one worker (nginx `worker_processes 1`, HAProxy `nbthread 1`, "+
		"`GOMAXPROCS=1` for egressgw, Caddy and CoreDNS; dnsmasq has one thread). The nginx upstream (one worker), the upstream dnsmasq "+
		"and the clients share CPU 1. HTTP loads: `wrk -t1 -c%d -d%s`. Each figure is the median of %d runs (bulk and memory: at most 3), with (min–max). "+
		"Access logs are off for every peer (egressgw `--log-level warn`). Ratios compare medians; \"best peer\" excludes the direct path.\n",
		r.opts.conns, r.opts.duration, r.opts.runs)
	b.WriteString("\nWhat each part measures:\n\n")
	for _, t := range r.tables {
		fmt.Fprintf(&b, "- **%s**: %s.\n", t.title, t.setup)
	}
	r.renderTable(&b)
	for _, t := range r.tables {
		for _, n := range t.notes {
			fmt.Fprintf(&b, "\nNote (%s): %s.\n", t.title, n)
		}
	}
	if r.reloadNote != "" {
		verdict := "no request lost"
		if !r.reloadOK {
			verdict = "REQUESTS LOST"
		}
		fmt.Fprintf(&b, "\n**Config reload under load.** A ServiceEntry file rewritten every second: %s; %s.\n", r.reloadNote, verdict)
	}
	return b.String()
}

// columns are the peers of every table, in the one table's order.
var columns = []string{"egressgw", "nginx", "haproxy", "caddy", "dnsmasq", "coredns", "direct"}

// renderTable writes every row of every section as one table: a column
// per peer (empty where a peer does not do that job), the ratios of
// egressgw's median to the best peer's and to the direct path's.
func (r *report) renderTable(b *strings.Builder) {
	b.WriteString("\n| test | figure |")
	for _, c := range columns {
		fmt.Fprintf(b, " %s |", c)
	}
	b.WriteString(" egressgw ÷ best peer | egressgw ÷ direct | target | met |\n|---|---|")
	for range columns {
		b.WriteString("---:|")
	}
	b.WriteString("---:|---:|---|---|\n")
	for _, t := range r.tables {
		for _, row := range t.rows {
			m := map[string]float64{}
			fmt.Fprintf(b, "| %s | %s |", t.title, row.name)
			for _, p := range columns {
				s := row.samples[p]
				if len(s) == 0 {
					b.WriteString(" |")
					continue
				}
				m[p] = median(s)
				if len(s) == 1 {
					fmt.Fprintf(b, " %s |", num(m[p]))
				} else {
					fmt.Fprintf(b, " %s (%s–%s) |", num(m[p]), num(slices.Min(s)), num(slices.Max(s)))
				}
			}
			direct, egressgw := math.NaN(), math.NaN() // no column: no ratio
			if v, ok := m["direct"]; ok {
				direct = v
			}
			if v, ok := m["egressgw"]; ok {
				egressgw = v
			}
			met := ""
			if row.target != nil && len(row.samples["egressgw"]) > 0 {
				met = "yes"
				if !row.target(m) {
					met = "**no**"
				}
			}
			fmt.Fprintf(b, " %s | %s | %s | %s |\n", ratio(egressgw, bestPeer(m, row.dir)), ratio(egressgw, direct), row.goal, met)
		}
	}
}

func num(v float64) string {
	switch {
	case math.IsNaN(v):
		return "–"
	case math.Abs(v) >= 1000:
		return fmt.Sprintf("%.0f", v)
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// cpusOnline is the machine's CPU list ("0-1"); runtime.NumCPU would see
// only the CPU this process is pinned to.
func cpusOnline() string {
	b, _ := os.ReadFile("/sys/devices/system/cpu/online")
	return strings.TrimSpace(string(b))
}

func kernel() string {
	out, _ := exec.Command("uname", "-r").Output()
	return strings.TrimSpace(string(out))
}
