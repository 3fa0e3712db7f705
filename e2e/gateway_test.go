//go:build e2e && linux

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gateway is one egressgw process in the node namespace.
type gateway struct {
	tp        *topology
	configDir string // --config: watched by egressgw
	stageDir  string // files are written here, then renamed into configDir
	proc      *proc
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// gatewayBinary builds cmd/egressgw once per run (or takes EGRESSGW_BIN).
// E2E_RACE=1 builds it with the race detector.
func gatewayBinary(t *testing.T, tp *topology) string {
	t.Helper()
	buildOnce.Do(func() {
		if bin := os.Getenv("EGRESSGW_BIN"); bin != "" {
			buildBin, buildErr = filepath.Abs(bin)
			return
		}
		root, err := filepath.Abs("..")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(tp.dir, "egressgw")
		args := []string{"build", "-o", buildBin}
		if os.Getenv("E2E_RACE") == "1" {
			args = append(args, "-race")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", append(args, "./cmd/egressgw")...)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/egressgw: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// gatewayArgs are the flags E2E_GATEWAY_ARGS adds to every gateway's, e.g.
// --fast-paths=false: the suite on the standard library's paths.
func gatewayArgs() []string { return strings.Fields(os.Getenv("E2E_GATEWAY_ARGS")) }

// fastPaths reports whether the suite's gateways serve with egressgw's own fast paths.
func fastPaths() bool { return !slices.Contains(gatewayArgs(), "--fast-paths=false") }

// configData fills the templates under testdata/.
type configData struct {
	EgressAddr, InternetAddr string
	BlackholeAddr            string // packets there are dropped
	ClientCert, ClientKey    string // base64, for a Secret's data
	CACert                   string // base64, for a Secret's data
	SlowPort                 int    // where slowUpstream listens
	LongPort                 int    // where longUpstream listens

	// The ingress world (ingress_world_test.go).
	IngressAddr, OutsideAddr, NodeBackAddr string
	HttpbinAddr, V1Addr, V2Addr, FailAddr  string
	FailOnceAddr, TCPAddr                  string
	HttpbinPort, FailOncePort, TCPPort     int
	Ingress                                map[string]string // certificates (ingressCerts); nil before ingressEnv
}

func (tp *topology) configData() configData {
	b64 := base64.StdEncoding.EncodeToString
	d := configData{
		EgressAddr:    egressAddr,
		InternetAddr:  internetAddr,
		BlackholeAddr: blackholeIP,
		ClientCert:    b64(tp.pki.clientCertPEM),
		ClientKey:     b64(tp.pki.clientKeyPEM),
		CACert:        b64(tp.pki.caPEM),
		SlowPort:      slowPort,
		LongPort:      longPort,

		IngressAddr: ingressAddr, OutsideAddr: outsideAddr, NodeBackAddr: nodeBackAddr,
		HttpbinAddr: httpbinAddr, V1Addr: v1Addr, V2Addr: v2Addr, FailAddr: failAddr,
		FailOnceAddr: failOnceAddr, TCPAddr: tcpAddr,
		HttpbinPort: httpbinPort, FailOncePort: failOncePort, TCPPort: tcpPort,
	}
	if tp.ingress != nil {
		d.Ingress = tp.ingress.pki.data
	}
	return d
}

// renderTestdata renders testdata/<name> with the suite's addresses and certificates.
func (tp *topology) renderTestdata(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tp.dir, "rendered", name)
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := renderFile(out, string(src), tp.configData()); err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// gatewaySpec says how to run one egressgw beyond what every gateway of
// the suite gets.
type gatewaySpec struct {
	name string // names its directories and log: "registry_only", "ingress-seed000"
	mode string // --outbound-policy
	// configs maps a file name in the config directory to its content
	// (see renderDocs); nil: every testdata/config/*.yaml, rendered.
	configs map[string]string
	args    []string // more flags, e.g. --ingress-addr
	// adminSocket, when set, is given as --admin-socket and readiness is
	// asked there (egressgw probe), not on the shared admin TCP port: with
	// --reuse-port another gateway may answer that one.
	adminSocket string
}

// startGateway runs egressgw with every testdata/config/*.yaml and waits
// (bounded) for /readyz. The process is stopped when t ends.
func (tp *topology) startGateway(t *testing.T, bin, mode string) *gateway {
	t.Helper()
	return tp.startGatewaySpec(t, bin, gatewaySpec{name: mode, mode: mode})
}

// startGatewaySpec runs egressgw as spec says and waits (bounded) for
// /readyz. The process is stopped when t ends.
func (tp *topology) startGatewaySpec(t *testing.T, bin string, spec gatewaySpec) *gateway {
	t.Helper()
	name := strings.ToLower(spec.name)
	g := &gateway{
		tp:        tp,
		configDir: filepath.Join(tp.dir, "config-"+name),
		stageDir:  filepath.Join(tp.dir, "stage-"+name),
	}
	for _, d := range []string{g.configDir, g.stageDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	configs := spec.configs
	if configs == nil {
		files, _ := filepath.Glob("testdata/config/*.yaml")
		if len(files) == 0 {
			t.Fatal("no testdata/config/*.yaml")
		}
		configs = map[string]string{}
		for _, f := range files {
			configs[filepath.Base(f)] = tp.renderTestdata(t, "config/"+filepath.Base(f))
		}
	}
	for dst, content := range configs {
		if err := os.WriteFile(filepath.Join(g.configDir, dst), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	argv := []string{"ip", "netns", "exec", tp.node, bin, "run",
		"--config", g.configDir,
		"--egress-addr", egressAddr,
		"--dns-upstream", internetAddr + ":53",
		"--ca-file", tp.pki.caFile,
		"--admin-listen", adminAddr,
		"--outbound-policy", spec.mode,
		// The suite's internet is private address space (10.231.2.2): let
		// names resolved at request time reach it. The node's own addresses
		// in it stay refused (netguard).
		"--allow-cidrs", allowCIDRs,
		"--log-format", "json"}
	argv = append(argv, spec.args...)
	if spec.adminSocket != "" {
		argv = append(argv, "--admin-socket", spec.adminSocket)
	}
	extra := gatewayArgs()
	argv = append(argv, extra...)
	var err error
	g.proc, err = startProc("egressgw", filepath.Join(tp.dir, "egressgw-"+name+".log"), argv...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.proc.stop(syscall.SIGTERM, 5*time.Second)
		if t.Failed() {
			t.Logf("egressgw log (%s), last part:\n%s", g.proc.logPath, tail(g.proc.log(), 6000))
		}
	})
	err = poll(20*time.Second, 100*time.Millisecond, func() error {
		if g.proc.exited() {
			return fmt.Errorf("egressgw exited (%s): %w", g.proc.exitStatus(), errGiveUp)
		}
		if spec.adminSocket != "" {
			if r := tp.execIn(tp.node, 5*time.Second, bin, "probe", "--admin-socket", spec.adminSocket); r.code != 0 {
				return fmt.Errorf("egressgw probe: exit %d: %s", r.code, strings.TrimSpace(r.stdout+" "+r.stderr))
			}
			return nil
		}
		if r := g.admin("/readyz"); r.status != 200 {
			return fmt.Errorf("/readyz: status %d, exit %d: %s", r.status, r.code, strings.TrimSpace(r.body+" "+r.stderr))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("egressgw not ready: %v\nlog:\n%s", err, tail(g.proc.log(), 6000))
	}
	fast := fastPaths()
	err = poll(3*time.Second, 50*time.Millisecond, func() error { // /readyz may answer a moment before the line is out
		if len(g.proc.logLines(`"msg":"serving"`, `"fast_paths":`+strconv.FormatBool(fast))) == 0 {
			return errors.New("no such line yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("egressgw does not say it serves with fast_paths %v (E2E_GATEWAY_ARGS=%q); log:\n%s", fast, extra, tail(g.proc.log(), 3000))
	}
	return g
}

// renderDocs renders testdata files and joins them as the documents of one YAML stream.
func (tp *topology) renderDocs(t *testing.T, srcs ...string) string {
	t.Helper()
	var b strings.Builder
	for i, src := range srcs {
		if i > 0 {
			b.WriteString("\n---\n")
		}
		b.WriteString(tp.renderTestdata(t, src))
	}
	return b.String()
}

// admin GETs path from the admin listener, inside the node namespace.
func (g *gateway) admin(path string) curlResult {
	return g.tp.curl(g.tp.node, "--connect-timeout", "1", "--max-time", "3", "http://"+adminAddr+path)
}

// reloadsRE matches egressgw_config_reloads_total{result="success"} 3 (any label order).
var reloadsRE = regexp.MustCompile(`(?m)^egressgw_config_reloads_total\{([^}]*)\}\s+(\S+)`)

// reloads returns the config reload counter for result ("success" or "failure").
func (g *gateway) reloads(t *testing.T, result string) float64 {
	t.Helper()
	r := g.admin("/metrics")
	if r.status != 200 {
		t.Fatalf("/metrics: got status %d, want 200\n%s", r.status, r)
	}
	for _, m := range reloadsRE.FindAllStringSubmatch(r.body, -1) {
		if strings.Contains(m[1], `result="`+result+`"`) {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				t.Fatalf("/metrics: bad value in %q", m[0])
			}
			return v
		}
	}
	return 0 // not yet incremented: absent is zero
}

// waitReloads waits (bounded) until the reload counter for result exceeds before.
func (g *gateway) waitReloads(t *testing.T, result string, before float64) {
	t.Helper()
	err := poll(10*time.Second, 100*time.Millisecond, func() error {
		if now := g.reloads(t, result); now <= before {
			return fmt.Errorf(`egressgw_config_reloads_total{result=%q} = %v, want > %v`, result, now, before)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("config reload not counted: %v\nlog:\n%s", err, tail(g.proc.log(), 3000))
	}
}

// putConfig writes a file into the config directory atomically (write
// elsewhere, rename in), so the watcher sees one complete file.
func (g *gateway) putConfig(t *testing.T, name, content string) {
	t.Helper()
	staged := filepath.Join(g.stageDir, name)
	if err := os.WriteFile(staged, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(staged, filepath.Join(g.configDir, name)); err != nil {
		t.Fatal(err)
	}
}

func (g *gateway) removeConfig(t *testing.T, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(g.configDir, name)); err != nil {
		t.Fatal(err)
	}
}

// requireRunning fails t now if egressgw has exited.
func (g *gateway) requireRunning(t *testing.T) {
	t.Helper()
	if g.proc.exited() {
		t.Fatalf("egressgw is not running (%s); log:\n%s", g.proc.exitStatus(), tail(g.proc.log(), 4000))
	}
}

// logRecords returns egressgw's JSON log lines that contain every one of
// subs (case-insensitive), decoded. Access lines are flushed every second,
// so it waits up to three for at least one.
func (g *gateway) logRecords(subs ...string) []map[string]any {
	var out []map[string]any
	_ = poll(3*time.Second, 50*time.Millisecond, func() error {
		out = out[:0]
		for _, line := range g.proc.logLines(subs...) {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil {
				out = append(out, rec)
			}
		}
		if len(out) == 0 {
			return errors.New("none yet")
		}
		return nil
	})
	return out
}
