//go:build linux

package egress

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestStdlibPaths runs the engine's and the relay's tests again with the
// fast paths off: net/http's server, http.Transport, io.Copy.
func TestStdlibPaths(t *testing.T) {
	stdlibInTests = true
	defer func() { stdlibInTests = false }()
	for _, tt := range []struct {
		name string
		test func(*testing.T)
	}{
		{"EngineHTTP", TestEngineHTTP},
		{"EnginePassthrough", TestEnginePassthrough},
		{"EngineTCP", TestEngineTCP},
		{"EngineH2CClient", TestEngineH2CClient},
		{"H2ServerTaken", TestH2ServerTaken},
		{"ShutdownClosesSilentConnections", TestShutdownClosesSilentConnections},
		{"RelayHalfClose", TestRelayHalfClose},
		{"RelayIdleTimeout", TestRelayIdleTimeout},
		{"RelayEnds", TestRelayEnds},
		{"RelayBackPressure", TestRelayBackPressure},
		{"RelayMany", TestRelayMany},
		{"IngressSeed000", TestIngressSeed000},
		{"IngressRouteFeatures", TestIngressRouteFeatures},
		{"IngressHTTPSRedirectAndTLS", TestIngressHTTPSRedirectAndTLS},
		{"IngressHTTPSRedirect", TestIngressHTTPSRedirect},
		{"IngressTLSProtocols", TestIngressTLSProtocols},
		{"ForwardH1", TestForwardH1},
		{"PerTryTimeout", TestPerTryTimeout},
		{"PodPolicyEngine", TestPodPolicyEngine},
		{"StdlibPathsTaken", testStdlibPathsTaken},
	} {
		t.Run(tt.name, tt.test)
	}
}

// testStdlibPathsTaken checks that the switch switches: a request is
// served by net/http's server, not by an h1conn, and a relayed connection
// starts no event loop.
func testStdlibPathsTaken(t *testing.T) {
	env := newH1Env(t, http.HandlerFunc(origin), h1Options{})
	before := heldReaders.Load()
	c := env.dial(t)
	c.send(rawRequest(http.MethodGet, "/doc"))
	c.checkDoc()
	if held := heldReaders.Load(); held != before {
		t.Errorf("an h1conn holds a read buffer (%d, before %d): the request was not served by net/http", held, before)
	}
	for _, l := range env.eng.listeners {
		l.mu.Lock()
		n := len(l.h1)
		l.mu.Unlock()
		if n != 0 {
			t.Errorf("listener %s tracks %d h1conns with the fast paths off", l.label, n)
		}
	}
	r := newRelay(t)
	client, upstream, _ := relayed(t, r, time.Minute)
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = upstream.SetReadDeadline(time.Now().Add(h1Wait))
	if _, err := io.ReadFull(upstream, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if r.loops != nil {
		t.Errorf("%d event loops started with the fast paths off", len(r.loops))
	}
}

// TestRelaySurvivesPanics: a panic while a connection is relayed (here in
// its done callback, as the access log would) ends that connection only;
// a panic of a loop itself ends the loop's connections and the loop, and
// later connections are relayed by the other loops or by io.Copy. Each is
// reported.
func TestRelaySurvivesPanics(t *testing.T) {
	var reported []string
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	r := newRelay(t)
	r.onPanic = func(where string, v any, _ []byte) {
		<-mu
		reported = append(reported, fmt.Sprintf("%s: %v", where, v))
		mu <- struct{}{}
	}
	reports := func() []string {
		<-mu
		defer func() { mu <- struct{}{} }()
		return append([]string(nil), reported...)
	}
	echo := func(t *testing.T, client, upstream *net.TCPConn, msg string) {
		t.Helper()
		if _, err := client.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		_ = upstream.SetReadDeadline(time.Now().Add(h1Wait))
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(upstream, got); err != nil || string(got) != msg {
			t.Fatalf("relayed %q, %v; want %q", got, err, msg)
		}
	}

	// A done that panics, on a connection that ends by EOF (served by the loop).
	client, gwClient := tcpPair(t)
	gwUp, upstream := tcpPair(t)
	t.Cleanup(func() { client.Close(); upstream.Close() })
	r.add(gwClient, gwUp, time.Minute, func(relayResult) { panic("done exploded") })
	echo(t, client, upstream, "one")
	_ = client.CloseWrite()
	_ = upstream.CloseWrite()
	eventually(t, "the panic in done was not reported", func() bool { return len(reports()) == 1 })
	if got := reports()[0]; got != "relay connection: done exploded" {
		t.Errorf("reported %q, want the connection's panic", got)
	}
	// The loops go on relaying.
	for i := range 2 * len(r.loops) {
		c, u, _ := relayed(t, r, time.Minute)
		echo(t, c, u, fmt.Sprintf("after the panic %d", i))
	}

	// A loop that panics (its epoll descriptor closed under it: a bug)
	// ends its connections, and the rest goes on.
	held, heldUp, heldDone := relayed(t, r, time.Minute)
	echo(t, held, heldUp, "held")
	for _, lp := range r.loops {
		_ = lp.ep.Close()
	}
	for _, lp := range r.loops {
		select {
		case <-lp.exited:
		case <-time.After(h1Wait):
			t.Fatal("a loop whose epoll descriptor was closed did not stop")
		}
		if !lp.broken.Load() {
			t.Error("a loop that panicked is not marked broken")
		}
	}
	if res := wait(t, heldDone); res.reason != "error: internal error in the relay loop" || res.sent != 4 {
		t.Errorf("held connection of the failed loop: %+v, want reason \"error: internal error in the relay loop\" and 4 bytes", res)
	}
	if got := reports(); len(got) < 2 || !strings.HasPrefix(got[1], "relay loop: ") {
		t.Errorf("reports %q, want the loop's panic reported", got)
	}
	c, u, done := relayed(t, r, time.Minute)
	echo(t, c, u, "every loop failed: io.Copy relays")
	_ = c.CloseWrite()
	_ = u.CloseWrite()
	if res := wait(t, done); res.reason != "eof" {
		t.Errorf("connection relayed after every loop failed: %+v, want eof", res)
	}
}
