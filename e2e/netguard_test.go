//go:build e2e && linux

package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestNetguard (project issue 11, item 2): the gateway is no proxy to the
// node. A wildcard's name that DNS rebinds to 127.0.0.1 or to the node's
// own address (REGISTRY_ONLY), and an ALLOW_ANY Host header naming the
// node's loopback in any form, the cloud metadata address or the node
// itself, are refused with a 403 naming the address and its class (TLS: an
// access_denied alert), while a name resolving to the private internet host
// inside --allow-cidrs still passes. An HTTP server in the node namespace
// on 127.0.0.1:80 and on the node's uplink address stands for what the
// gateway must not reach; it must never see a request.
func TestNetguard(t *testing.T) {
	tp := env(t)
	node := nodeServers(t, tp, "127.0.0.1:80", net.JoinHostPort(nodeUpAddr, "80"))
	bin := gatewayBinary(t, tp)

	t.Run("registry_only_rebinding", func(t *testing.T) {
		gw := tp.startGateway(t, bin, "REGISTRY_ONLY")
		for _, c := range []struct{ name, host, want string }{
			{"loopback", "loop.rebind.example.test", "egressgw: request to loop.rebind.example.test denied: it resolves to 127.0.0.1, a loopback address, which egressgw never dials for names resolved at request time"},
			{"node_address", "node.rebind.example.test", "egressgw: request to node.rebind.example.test denied: it resolves to " + nodeUpAddr + ", an address of this node"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := tp.podCurl("-D", "-", "http://"+c.host+"/netguard?id=ng-"+c.name)
				wantResponse(t, r, 403, c.want, "X-Egressgw-Rule: netguard")
			})
		}
		t.Run("tls_loopback_alert", func(t *testing.T) {
			r := tp.podCurl("--cacert", tp.pki.caFile, "https://loop.rebind.example.test/netguard?id=ng-tls")
			if r.code != 35 || !strings.Contains(r.stderr, "access denied") {
				t.Errorf("got curl exit %d, want 35 with an access_denied alert\n%s", r.code, r)
			}
			wantNetguardLog(t, gw, "loop.rebind.example.test", "connection")
		})
		t.Run("allowed_private_upstream", func(t *testing.T) {
			// Under example.test, so dnsmasq answers the internet host, a
			// private address inside --allow-cidrs.
			r := tp.podCurl("http://ok.rebind.example.test/netguard?id=ng-ok")
			wantResponse(t, r, 200, plainSite+" host=ok.rebind.example.test")
		})
		t.Run("access_log", func(t *testing.T) {
			wantNetguardLog(t, gw, "loop.rebind.example.test", "request")
			wantNetguardLog(t, gw, "node.rebind.example.test", "request")
		})
		gw.requireRunning(t)
	})

	t.Run("allow_any_literals", func(t *testing.T) {
		gw := tp.startGateway(t, bin, "ALLOW_ANY")
		for _, c := range []struct{ name, host, want string }{
			{"loopback", "127.0.0.1", "request to 127.0.0.1 denied: 127.0.0.1 is a loopback address"},
			{"loopback_with_port", "127.0.0.1:80", "request to 127.0.0.1 denied: 127.0.0.1 is a loopback address"},
			{"ipv4_mapped_loopback", "[::ffff:127.0.0.1]", "::ffff:127.0.0.1 is a loopback address (it embeds 127.0.0.1)"},
			{"ipv6_loopback", "[::1]", "::1 is a loopback address"},
			{"unspecified", "0.0.0.0", "0.0.0.0 is an unspecified address"},
			{"cloud_metadata", "169.254.169.254", "169.254.169.254 is a link-local address (cloud metadata)"},
			{"node_uplink", nodeUpAddr, nodeUpAddr + " is an address of this node"},
			{"egress_address", egressAddr, egressAddr + " is an address of this node"},
			{"rebound_name", "loop.rebind.example.test", "it resolves to 127.0.0.1, a loopback address"},
		} {
			t.Run(c.name, func(t *testing.T) {
				r := tp.podCurl("-H", "Host: "+c.host, "http://"+egressAddr+"/netguard?id=ng-any-"+c.name)
				wantResponse(t, r, 403, c.want)
			})
		}
		t.Run("unregistered_internet_host_still_passes", func(t *testing.T) {
			r := tp.podCurl("--resolve", "other.example.test:80:"+egressAddr, "http://other.example.test/netguard?id=ng-any-ok")
			wantResponse(t, r, 200, plainSite+" host=other.example.test")
		})
		gw.requireRunning(t)
	})

	if n := node.Load(); n != 0 {
		t.Errorf("the node's own HTTP servers saw %d requests through the gateway, want none", n)
	}
}

// wantNetguardLog checks egressgw logged a denial by netguard of host, on
// an access line msg ("request" or "connection").
func wantNetguardLog(t *testing.T, gw *gateway, host, msg string) {
	t.Helper()
	for _, rec := range gw.logRecords(host, `"rule":"netguard"`) {
		if rec["msg"] == msg && rec["decision"] == "deny" && strings.Contains(fmt.Sprint(rec["reason"]), "request to "+host+" denied") {
			return
		}
	}
	t.Errorf("no %q log line with decision deny, rule netguard for %s; log:\n%s", msg, host, tail(gw.proc.log(), 3000))
}

// nodeServers serves plain HTTP inside the node namespace on addrs until t
// ends, and counts the requests that reach it.
func nodeServers(t *testing.T, tp *topology, addrs ...string) *atomic.Int64 {
	t.Helper()
	var hits atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		fmt.Fprintf(w, "the node itself was reached: host=%s\n", r.Host)
	})}
	for _, addr := range addrs {
		var ln net.Listener
		err := inNetns(tp.node, func() (err error) {
			ln, err = net.Listen("tcp", addr)
			return err
		})
		if err != nil {
			t.Fatalf("listen on %s in the node namespace: %v", addr, err)
		}
		go func() { _ = srv.Serve(ln) }()
	}
	t.Cleanup(func() { _ = srv.Close() })
	return &hits
}
