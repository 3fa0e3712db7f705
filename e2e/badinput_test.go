//go:build e2e && linux

package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// testBadInput is case 11: after each kind of bad input the gateway still
// serves normal requests.
func testBadInput(t *testing.T, tp *topology, gw *gateway) {
	// stillServes checks the gateway answers normal requests after bad input.
	stillServes := func(t *testing.T) {
		t.Helper()
		gw.requireRunning(t)
		wantResponse(t, tp.podCurl("http://api.example.test/case11"), 200, "api.example.test")
		wantResponse(t, tp.podCurl("--cacert", tp.pki.caFile, "https://www.example.test/case11"), 200, "www.example.test")
	}
	// sendTCP writes payload to the gateway from the pod, then reads what
	// comes back until the gateway closes or a second passes.
	sendTCP := func(port string, payload []byte) (reply []byte, err error) {
		err = inNetns(tp.pod, func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(egressAddr, port), 3*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(time.Second))
			if _, err := c.Write(payload); err != nil {
				return nil // the gateway may close early; that is fine
			}
			var buf bytes.Buffer
			buf.ReadFrom(c)
			reply = buf.Bytes()
			return nil
		})
		return reply, err
	}

	// A client that starts a ClientHello and stalls must not hold a
	// connection forever; checked at the end, while the rest runs.
	stalled := make(chan error, 1)
	go func() {
		stalled <- inNetns(tp.pod, func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(egressAddr, "443"), 3*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00}) // a record header announcing 512 bytes that never come
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			_, err = c.Read(make([]byte, 1))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return errors.New("the gateway kept a stalled ClientHello open for 20s")
			}
			return nil // closed (EOF, reset or an alert): bounded
		})
	}()

	t.Run("random_bytes_to_tls_port", func(t *testing.T) {
		payloads := map[string][]byte{
			"random_4k":              randomBytes(4096),
			"tls_record_header_only": {0x16, 0x03, 0x01, 0xff, 0xff},
			"tls_record_garbage":     append([]byte{0x16, 0x03, 0x01, 0x01, 0x00}, randomBytes(256)...),
			"truncated_client_hello": clientHello(t, "www.example.test")[:40],
			"http_on_tls_port":       []byte("GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n"),
			"empty":                  {},
		}
		for name, p := range payloads {
			if _, err := sendTCP("443", p); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		stillServes(t)
	})
	t.Run("client_hello_without_sni", func(t *testing.T) {
		err := inNetns(tp.pod, func() error {
			c, err := net.DialTimeout("tcp", net.JoinHostPort(egressAddr, "443"), 3*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			// No ServerName: crypto/tls sends no SNI extension.
			return tls.Client(c, &tls.Config{InsecureSkipVerify: true}).Handshake()
		})
		switch {
		case err == nil:
			t.Errorf("handshake without SNI succeeded; want it refused (the gateway cannot route it)")
		case !strings.Contains(err.Error(), "remote error: tls:"): // crypto/tls's words for a received alert
			t.Errorf("handshake without SNI failed with %v; want a TLS alert", err)
		default:
			t.Logf("refused with a TLS alert: %v", err)
		}
		stillServes(t)
	})
	t.Run("headers_over_64KiB", func(t *testing.T) {
		args := []string{}
		for i := range 10 { // 10 x 8000 bytes: 80 kB of headers
			args = append(args, "-H", fmt.Sprintf("X-Big-%d: %s", i, strings.Repeat("a", 8000)))
		}
		r := tp.podCurl(append(args, "http://api.example.test/case11?id=big-headers")...)
		wantResponse(t, r, 431)
		stillServes(t)
	})
	t.Run("access_log_has_431", func(t *testing.T) {
		// One JSON line per request, rejected ones included.
		if recs := gw.logRecords(`"status":431`); len(recs) == 0 {
			t.Errorf("no access log line with status 431 for the request with 80 kB of headers; log:\n%s", tail(gw.proc.log(), 2000))
		}
	})
	t.Run("garbage_to_dns", func(t *testing.T) {
		udp := [][]byte{
			{},
			{0x00},
			randomBytes(11),
			{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},                                     // header, question missing
			{0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01}, // name is a pointer loop
			{0x12, 0x34, 0x01, 0x00, 0x7f, 0xff, 0x7f, 0xff, 0x7f, 0xff, 0x7f, 0xff},                                     // absurd counts
			{0x12, 0x34, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00},                                     // a response, not a query
			randomBytes(512),
			randomBytes(1400),
		}
		err := inNetns(tp.pod, func() error {
			c, err := net.Dial("udp", net.JoinHostPort(egressAddr, "53"))
			if err != nil {
				return err
			}
			defer c.Close()
			for _, p := range udp {
				c.Write(p)
			}
			for range 200 {
				c.Write(randomBytes(64))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range [][]byte{randomBytes(100), {0xff, 0xff}, {0x00, 0x20, 0x01, 0x02}} {
			if _, err := sendTCP("53", p); err != nil {
				t.Errorf("TCP garbage to port 53: %v", err)
			}
		}
		wantResolves(t, tp, "api.example.test")
		r := tp.dig(tp.pod, "+short", "+tcp", "@"+egressAddr, "api.example.test")
		if got := strings.TrimSpace(r.stdout); got != egressAddr {
			t.Errorf("dig +tcp api.example.test: got %q, want %s\n%s", got, egressAddr, r)
		}
		stillServes(t)
	})
	t.Run("stalled_client_hello_closed", func(t *testing.T) {
		select {
		case err := <-stalled:
			if err != nil {
				t.Error(err)
			}
		case <-time.After(25 * time.Second):
			t.Error("stalled ClientHello check did not finish")
		}
	})
	t.Run("admin_endpoints", func(t *testing.T) {
		for path, want := range map[string]string{
			"/healthz":     "",
			"/readyz":      "",
			"/metrics":     "egressgw_config_reloads_total",
			"/config_dump": "api-example",
		} {
			if r := gw.admin(path); r.status != 200 || !strings.Contains(r.body, want) {
				t.Errorf("%s: got status %d, want 200 with a body containing %q\n%s", path, r.status, want, r)
			}
		}
	})
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// clientHello returns the first flight of a real crypto/tls client: a
// ClientHello record with SNI serverName.
func clientHello(t *testing.T, serverName string) []byte {
	t.Helper()
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	go tls.Client(client, &tls.Config{ServerName: serverName}).Handshake()
	server.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 16<<10)
	n, err := server.Read(buf)
	if err != nil {
		t.Fatalf("capturing a ClientHello: %v", err)
	}
	return buf[:n]
}
