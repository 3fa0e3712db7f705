//go:build e2e && linux

package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestRollingUpdate is a DaemonSet's rolling update with maxSurge 1 on one
// node: a second gateway with --reuse-port starts beside the first on the
// same addresses, is probed ready on its own admin socket, then the first
// gets SIGTERM and drains. A pod asking DNS and sending requests the whole
// time gets every answer. Without --reuse-port the second gateway cannot
// start, and says why.
func TestRollingUpdate(t *testing.T) {
	tp := env(t)
	bin := gatewayBinary(t, tp)
	configs := map[string]string{"api-example.yaml": tp.renderTestdata(t, "config/api-example.yaml")}
	old := tp.startGatewaySpec(t, bin, gatewaySpec{name: "rolling-old", mode: "REGISTRY_ONLY", configs: configs,
		args: []string{"--reuse-port"}, adminSocket: filepath.Join(tp.dir, "rolling-old.sock")})

	// The pod's load: a DNS query (as a resolver asks: 2 tries, 1 s each)
	// and a new HTTP connection, one after the other, until stopped.
	var mu sync.Mutex
	var queries, requests int
	var failures []string
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			d := tp.dig(tp.pod, "+tries=2", "+time=1", "+short", "@"+egressAddr, "api.example.test", "A")
			r := tp.podCurl(fmt.Sprintf("http://api.example.test/rolling?i=%d", i))
			mu.Lock()
			queries++
			requests++
			if strings.TrimSpace(d.stdout) != egressAddr {
				failures = append(failures, fmt.Sprintf("query %d: %s", i, d))
			}
			if r.status != 200 {
				failures = append(failures, fmt.Sprintf("request %d: %s", i, r))
			}
			mu.Unlock()
		}
	}()
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return queries, requests }
	waitMore := func(what string, n int) {
		t.Helper()
		q0, _ := count()
		if err := poll(30*time.Second, 50*time.Millisecond, func() error {
			if q, _ := count(); q < q0+n {
				return fmt.Errorf("%d of %d more rounds", q-q0, n)
			}
			return nil
		}); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	waitMore("load before the update", 5)

	// The new pod: the same configuration and flags, its own admin socket
	// and admin port (the test's admin helper stays on the old one's).
	nu := tp.startGatewaySpec(t, bin, gatewaySpec{name: "rolling-new", mode: "REGISTRY_ONLY", configs: configs,
		args: []string{"--reuse-port", "--admin-listen", "127.0.0.1:15001"}, adminSocket: filepath.Join(tp.dir, "rolling-new.sock")})
	waitMore("load with both gateways", 10)

	// The old pod is deleted: SIGTERM, drain, exit.
	if err := old.proc.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !old.proc.wait(30 * time.Second) {
		t.Fatal("the old gateway did not exit within 30 s of SIGTERM")
	}
	waitMore("load after the old gateway left", 10)
	close(stop)
	<-done

	q, r := count()
	t.Logf("%d DNS queries and %d requests across the update", q, r)
	if len(failures) > 0 {
		t.Errorf("%d of %d queries and requests failed during the update:\n%s", len(failures), q+r, strings.Join(failures, "\n"))
	}
	for name, g := range map[string]*gateway{"old": old, "new": nu} {
		// Access lines are flushed every second (and at exit).
		if err := poll(5*time.Second, 100*time.Millisecond, func() error {
			if len(g.proc.logLines(`"path":"/rolling`)) == 0 {
				return fmt.Errorf("no access line")
			}
			return nil
		}); err != nil {
			t.Errorf("the %s gateway served none of the requests: the two did not share the port", name)
		}
	}

	// Without --reuse-port, a second gateway is refused its addresses.
	third := filepath.Join(tp.dir, "rolling-third.log")
	p, err := startProc("egressgw", third, "ip", "netns", "exec", tp.node, bin, "run", "--config", nu.configDir,
		"--egress-addr", egressAddr, "--dns-upstream", internetAddr+":53", "--admin-listen", "127.0.0.1:15002")
	if err != nil {
		t.Fatal(err)
	}
	if !p.wait(20 * time.Second) {
		p.stop(syscall.SIGKILL, time.Second)
		t.Fatal("a gateway without --reuse-port started beside one that holds the ports")
	}
	if log := p.log(); !strings.Contains(log, "address already in use") {
		t.Errorf("a gateway without --reuse-port: want an error naming 'address already in use', got:\n%s", tail(log, 2000))
	}
}
