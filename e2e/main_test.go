//go:build e2e && linux

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
)

// The addresses live only inside the namespaces this suite creates, so they
// cannot clash with the host's.
const (
	podAddr      = "10.231.1.2"    // pod, on the pod<->node link
	egressAddr   = "10.231.1.1"    // node, on the pod<->node link: egressgw's --egress-addr
	nodeUpAddr   = "10.231.2.1"    // node, on the node<->internet link
	internetAddr = "10.231.2.2"    // internet: nginx and dnsmasq
	blackholeNet = "10.231.3.0/24" // routed by the node to the internet, which drops it
	blackholeIP  = "10.231.3.1"
	adminAddr    = "127.0.0.1:15000"
	allowCIDRs   = "10.231.0.0/16" // egressgw's --allow-cidrs: the suite's addresses are private
)

// requiredTools are the commands the suite runs; scripts/install-test-deps.sh installs them.
var requiredTools = []string{"ip", "nginx", "dnsmasq", "curl", "dig", "openssl"}

var (
	suiteOnce sync.Once
	suite     *topology // set by setup; nil until then
	suiteErr  error
	suiteMu   sync.Mutex // guards teardown against the signal handler
)

func TestMain(m *testing.M) {
	addSbinToPath()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "e2e: %v: tearing down\n", s)
		teardownSuite(true)
		os.Exit(2)
	}()
	code := m.Run()
	teardownSuite(code != 0)
	os.Exit(code)
}

// env returns the shared topology, building it on first use. It skips the
// test when the machine cannot run the suite, except under CI=true, where
// that is a failure.
func env(t *testing.T) *topology {
	t.Helper()
	if msg := missingRequirements(); msg != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("e2e cannot run (CI=true, so this is an error): %s; run scripts/install-test-deps.sh as root", msg)
		}
		t.Skipf("e2e skipped: %s; run scripts/install-test-deps.sh as root", msg)
	}
	suiteOnce.Do(func() {
		suiteMu.Lock()
		defer suiteMu.Unlock()
		suite, suiteErr = setupTopology()
	})
	if suiteErr != nil {
		t.Fatalf("building the topology: %v", suiteErr)
	}
	return suite
}

func missingRequirements() string {
	if os.Geteuid() != 0 {
		return "not running as root (network namespaces need it)"
	}
	var missing []string
	for _, tool := range requiredTools {
		if _, err := lookTool(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Sprintf("missing tools %v", missing)
	}
	return ""
}

// addSbinToPath makes ip, sysctl, nginx and dnsmasq findable (here and in
// the namespaces, where ip netns exec looks commands up) when a non-login
// root shell left the sbin directories out of PATH.
func addSbinToPath() {
	path := os.Getenv("PATH")
	for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		if !slices.Contains(filepath.SplitList(path), dir) {
			path += string(filepath.ListSeparator) + dir
		}
	}
	os.Setenv("PATH", path)
}

// lookTool finds a command in PATH or in the sbin directories, which a
// non-login root shell may not have in PATH.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := dir + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found", name)
}

func teardownSuite(failed bool) {
	suiteMu.Lock()
	defer suiteMu.Unlock()
	if suite == nil {
		return
	}
	suite.teardown(failed || os.Getenv("E2E_KEEP") != "")
	suite = nil
}
