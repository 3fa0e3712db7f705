//go:build e2e && linux

package e2e

import (
	"strings"
	"syscall"
	"testing"
)

// nodeLocalAddr is the DaemonSet's --egress-addr (deploy/base/daemonset.yaml).
const nodeLocalAddr = "169.254.20.11"

// TestEgressInterface runs egressgw as the DaemonSet does on a node:
// --egress-interface egressgw0 with the node-local address, which no
// interface of the node has before. The gateway must create the interface,
// put the address on it and serve there: the pod, whose route to it goes
// through the node, gets DNS answers naming that address and is forwarded.
func TestEgressInterface(t *testing.T) {
	tp := env(t)
	if r := tp.execIn(tp.node, defaultTimeout, "ip", "-o", "addr", "show", "to", nodeLocalAddr); strings.TrimSpace(r.stdout) != "" {
		t.Fatalf("the node has %s before the gateway starts:\n%s", nodeLocalAddr, r)
	}
	// The interface outlives the gateway (see internal/linklocal); the
	// tests after this one share the node, so it goes when this one ends
	// (registered first: runs after the gateways' own cleanups).
	t.Cleanup(func() { tp.execIn(tp.node, defaultTimeout, "ip", "link", "del", "egressgw0") })
	gw := tp.startGatewaySpec(t, gatewayBinary(t, tp), gatewaySpec{name: "egress-interface", mode: "REGISTRY_ONLY",
		args: []string{"--egress-addr", nodeLocalAddr, "--egress-interface", "egressgw0"}})

	link := tp.execIn(tp.node, defaultTimeout, "ip", "-o", "addr", "show", "dev", "egressgw0")
	if !strings.Contains(link.stdout, "inet "+nodeLocalAddr+"/32") {
		t.Errorf("egressgw0 on the node: want %s/32 on it\n%s", nodeLocalAddr, link)
	}
	if up := tp.execIn(tp.node, defaultTimeout, "ip", "-o", "link", "show", "dev", "egressgw0"); !strings.Contains(up.stdout, ",UP") {
		t.Errorf("egressgw0 is not up\n%s", up)
	}
	if lines := gw.proc.logLines(`"msg":"egress interface ready"`, `"created":true`); len(lines) != 1 {
		t.Errorf("want one log line saying egressgw0 was created; log:\n%s", tail(gw.proc.log(), 3000))
	}

	r := tp.dig(tp.pod, "+short", "@"+nodeLocalAddr, "api.example.test", "A")
	if got := strings.TrimSpace(r.stdout); got != nodeLocalAddr {
		t.Fatalf("dig @%s api.example.test: got %q, want %s\n%s", nodeLocalAddr, got, nodeLocalAddr, r)
	}
	c := tp.podCurl("--resolve", "api.example.test:80:"+nodeLocalAddr, "http://api.example.test/egress-interface?id=nodelocal")
	wantResponse(t, c, 200, "api.example.test sni=api.example.test")

	// A second gateway start finds the interface and keeps it.
	gw.proc.stop(syscall.SIGTERM, defaultTimeout)
	gw2 := tp.startGatewaySpec(t, gatewayBinary(t, tp), gatewaySpec{name: "egress-interface-again", mode: "REGISTRY_ONLY",
		args: []string{"--egress-addr", nodeLocalAddr, "--egress-interface", "egressgw0"}})
	if lines := gw2.proc.logLines(`"msg":"egress interface ready"`, `"created":false`); len(lines) != 1 {
		t.Errorf("restart: want one log line saying egressgw0 was there already; log:\n%s", tail(gw2.proc.log(), 3000))
	}
	wantResponse(t, tp.podCurl("--resolve", "api.example.test:80:"+nodeLocalAddr, "http://api.example.test/egress-interface?id=again"), 200)
}
