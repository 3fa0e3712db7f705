//go:build e2e && linux

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowPort is where slowUpstream listens on the internet address.
const slowPort = 8081

// slowUpstream serves plain HTTP in the internet namespace and answers
// "slow done" after delay; started reports each request as it arrives.
func slowUpstream(t *testing.T, tp *topology, delay time.Duration) (started <-chan struct{}) {
	t.Helper()
	var ln net.Listener
	err := inNetns(tp.inet, func() (err error) {
		ln, err = net.Listen("tcp", net.JoinHostPort(internetAddr, fmt.Sprint(slowPort)))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c := make(chan struct{}, 10)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c <- struct{}{}
		time.Sleep(delay)
		fmt.Fprintln(w, "slow done")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return c
}

// testSIGTERM is case 12: SIGTERM lets a request in flight finish, then the
// process exits 0.
func testSIGTERM(t *testing.T, tp *topology, gw *gateway) {
	started := slowUpstream(t, tp, 2*time.Second)
	inflight := make(chan curlResult, 1)
	go func() { inflight <- tp.podCurl("http://slow.example.test/case12?id=drain") }()
	select {
	case <-started:
	case r := <-inflight:
		t.Fatalf("the slow request ended before SIGTERM was sent\n%s", r)
	case <-time.After(5 * time.Second):
		t.Fatal("the slow request never reached the upstream")
	}
	sent := time.Now()
	if err := gw.proc.signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	t.Run("request_in_flight_completes", func(t *testing.T) {
		wantResponse(t, <-inflight, 200, "slow done") // curl is bounded by --max-time
	})
	t.Run("exits_0", func(t *testing.T) {
		// egressgw drains for at most 20s; allow that and a little more.
		if !gw.proc.wait(25 * time.Second) {
			t.Fatalf("egressgw still running 25s after SIGTERM; log:\n%s", tail(gw.proc.log(), 3000))
		}
		t.Logf("exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
		if code := gw.proc.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("egressgw exited with %s after SIGTERM, want exit status 0; log:\n%s", gw.proc.exitStatus(), tail(gw.proc.log(), 3000))
		}
	})
	t.Run("access_line_of_the_drained_request_flushed", func(t *testing.T) {
		// Access lines are buffered for up to a second; exiting must flush them.
		if lines := gw.proc.logLines(`"host":"slow.example.test"`, `"status":200`); len(lines) == 0 {
			t.Errorf("no access line for the request that finished during the drain; log:\n%s", tail(gw.proc.log(), 3000))
		}
	})
	t.Run("log_clean", func(t *testing.T) {
		if lines := gw.proc.logLines("panic"); len(lines) > 0 {
			t.Errorf("egressgw log mentions a panic:\n%s", strings.Join(lines, "\n"))
		}
		if lines := gw.proc.logLines("DATA RACE"); len(lines) > 0 {
			t.Errorf("egressgw log reports a data race (E2E_RACE=1); see %s", gw.proc.logPath)
		}
	})
}

// TestAllowAny runs egressgw with --outbound-policy ALLOW_ANY (Istio's
// default; task egress-control step 1): unregistered names resolve through
// the upstream resolver and traffic sent to the gateway for them passes,
// while registered hosts and AuthorizationPolicies work as before.
func TestAllowAny(t *testing.T) {
	tp := env(t)
	gw := tp.startGateway(t, gatewayBinary(t, tp), "ALLOW_ANY")
	const host = "other.example.test" // served by nginx, registered nowhere
	t.Run("dns_forwarded", func(t *testing.T) {
		r := tp.dig(tp.pod, "+short", "@"+egressAddr, host, "A")
		if got := strings.TrimSpace(r.stdout); got != internetAddr {
			t.Errorf("dig %s: got %q, want the upstream resolver's answer %s\n%s", host, got, internetAddr, r)
		}
	})
	t.Run("tls_passthrough_unregistered", func(t *testing.T) {
		r := tp.podCurl("--cacert", tp.pki.caFile, "--resolve", host+":443:"+egressAddr, "https://"+host+"/allowany?id=allowany-tls")
		wantResponse(t, r, 200, host+" sni="+host)
		wantSiteCertificate(t, tp, host)
	})
	t.Run("http_unregistered", func(t *testing.T) {
		r := tp.podCurl("--resolve", host+":80:"+egressAddr, "http://"+host+"/allowany?id=allowany-http")
		wantResponse(t, r, 200, plainSite+" host="+host)
	})
	t.Run("registered_and_policy_still_apply", func(t *testing.T) {
		wantResponse(t, tp.podCurl("http://api.example.test/allowany"), 200, "api.example.test sni=api.example.test")
		wantResponse(t, tp.podCurl("http://api.example.test/admin"), 403, "AuthorizationPolicy default/deny-admin")
	})
	gw.requireRunning(t)
}
