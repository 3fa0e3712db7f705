//go:build linux

package egress

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// newRelay returns a relay closed when the test ends.
func newRelay(t testing.TB) *relay {
	r := &relay{stdlib: stdlibInTests}
	t.Cleanup(r.close)
	return r
}

// relayed starts relaying between two fresh loopback connections and
// returns their outer ends: client talks to the gateway, upstream is what
// the gateway dialled. The result arrives on done.
func relayed(t testing.TB, r *relay, idle time.Duration) (client, upstream *net.TCPConn, done <-chan relayResult) {
	t.Helper()
	client, gwClient := tcpPair(t)
	gwUp, upstream := tcpPair(t)
	t.Cleanup(func() { client.Close(); upstream.Close() })
	ch := make(chan relayResult, 1)
	r.add(gwClient, gwUp, idle, func(res relayResult) { ch <- res })
	return client, upstream, ch
}

func wait(t *testing.T, done <-chan relayResult) relayResult {
	t.Helper()
	select {
	case res := <-done:
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not end")
		return relayResult{}
	}
}

func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestRelayHalfClose: the side that finishes sending first must see the
// other side's answer after its half-close, whichever side it is.
func TestRelayHalfClose(t *testing.T) {
	for _, tt := range []struct {
		name         string
		clientFirst  bool
		sent, answer string
	}{
		{"client shuts down first", true, "hello", "world!"},
		{"upstream shuts down first", false, "banner", "bye"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRelay(t)
			client, upstream, done := relayed(t, r, time.Minute)
			first, second := client, upstream
			if !tt.clientFirst {
				first, second = upstream, client
			}
			if _, err := first.Write([]byte(tt.sent)); err != nil {
				t.Fatal(err)
			}
			_ = first.CloseWrite() // the other side must see EOF and still be able to answer
			_ = second.SetDeadline(time.Now().Add(5 * time.Second))
			got, err := io.ReadAll(second)
			if err != nil || string(got) != tt.sent {
				t.Fatalf("read %q, %v; want %q then EOF", got, err, tt.sent)
			}
			if _, err := second.Write([]byte(tt.answer)); err != nil {
				t.Fatal(err)
			}
			second.Close()
			_ = first.SetDeadline(time.Now().Add(5 * time.Second))
			back, err := io.ReadAll(first)
			if err != nil || string(back) != tt.answer {
				t.Fatalf("read back %q, %v; want %q", back, err, tt.answer)
			}
			res := wait(t, done)
			sent, received := len(tt.sent), len(tt.answer)
			if !tt.clientFirst {
				sent, received = received, sent
			}
			if res.sent != int64(sent) || res.received != int64(received) || res.reason != "eof" {
				t.Errorf("result %+v, want sent %d, received %d, reason eof", res, sent, received)
			}
		})
	}
}

func TestRelayIdleTimeout(t *testing.T) {
	r := newRelay(t)
	client, _, done := relayed(t, r, 300*time.Millisecond)
	// Traffic keeps it open past one idle period.
	for range 3 {
		time.Sleep(150 * time.Millisecond)
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case res := <-done:
		t.Fatalf("relay ended while traffic flowed: %+v", res)
	default:
	}
	res := wait(t, done)
	if res.reason != "idle_timeout" || res.sent != 3 {
		t.Errorf("result %+v, want reason idle_timeout and 3 bytes sent", res)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still open after the idle timeout")
	}
}

// TestRelayEnds covers the other close reasons.
func TestRelayEnds(t *testing.T) {
	for _, tt := range []struct {
		name   string
		end    func(r *relay, client, upstream *net.TCPConn)
		reason string
	}{
		{"upstream resets", func(_ *relay, _, upstream *net.TCPConn) {
			_ = upstream.SetLinger(0) // close sends RST
			upstream.Close()
		}, "error: read upstream: connection reset by peer"},
		{"relay closed", func(r *relay, _, _ *net.TCPConn) { r.close() }, "closed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRelay(t)
			client, upstream, done := relayed(t, r, time.Minute)
			if _, err := client.Write([]byte("ping")); err != nil {
				t.Fatal(err)
			}
			_ = upstream.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(upstream, make([]byte, 4)); err != nil {
				t.Fatal(err)
			}
			tt.end(r, client, upstream)
			if res := wait(t, done); res.reason != tt.reason || res.sent != 4 {
				t.Errorf("result %+v, want reason %q and 4 bytes sent", res, tt.reason)
			}
			_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAll(client); err != nil && !strings.Contains(err.Error(), "reset") {
				t.Errorf("client read: %v, want the connection closed", err)
			}
		})
	}
	t.Run("added after close", func(t *testing.T) {
		r := newRelay(t)
		r.close()
		_, _, done := relayed(t, r, time.Minute)
		if res := wait(t, done); res.reason != "closed" {
			t.Errorf("reason %q, want closed", res.reason)
		}
	})
}

// TestRelayBackPressure: one side reads slowly while the other sends
// several MiB; everything must arrive intact, and the pipes must all be
// back once the transfer is done.
func TestRelayBackPressure(t *testing.T) {
	const size = 8 << 20
	for _, tt := range []struct {
		name     string
		download bool // upstream to client
	}{
		{"upload to a slow upstream", false},
		{"download to a slow client", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := newRelay(t)
			client, upstream, done := relayed(t, r, time.Minute)
			from, to := client, upstream
			if tt.download {
				from, to = upstream, client
			}
			data := make([]byte, size)
			_, _ = rand.Read(data)
			go func() {
				_, _ = from.Write(data)
				_ = from.CloseWrite()
			}()
			h := sha256.New()
			buf := make([]byte, 64<<10)
			var got int
			_ = to.SetReadDeadline(time.Now().Add(60 * time.Second))
			for reads := 0; ; reads++ {
				if reads%8 == 0 {
					time.Sleep(time.Millisecond) // slow reader: the relay's writes block
				}
				n, err := to.Read(buf)
				h.Write(buf[:n])
				got += n
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("after %d bytes: %v", got, err)
				}
			}
			if want := sha256.Sum256(data); got != size || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatalf("received %d bytes, hash mismatch or short; want %d intact", got, size)
			}
			eventually(t, "pipes not back after the transfer", func() bool { return r.pipes.Load() == 0 })
			to.Close()
			res := wait(t, done)
			moved := res.sent
			if tt.download {
				moved = res.received
			}
			if moved != size || res.reason != "eof" {
				t.Errorf("result %+v, want %d bytes and eof", res, size)
			}
		})
	}
}

// TestRelayMany relays many connections at once, each echoing its own
// data, then checks that idle relays hold no pipe and that every
// descriptor is closed at the end.
func TestRelayMany(t *testing.T) {
	const conns = 200
	for _, tt := range []struct {
		name  string
		close bool // end by closing the relay rather than the connections
	}{
		{"connections close", false},
		{"relay closes", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, s := tcpPair(t) // Go's own poller is set up before counting
			c.Close()
			s.Close()
			before := openFDs(t)
			r := &relay{stdlib: stdlibInTests}
			type end struct {
				client, upstream *net.TCPConn
				done             <-chan relayResult
			}
			ends := make([]end, conns)
			for i := range ends {
				client, gwClient := tcpPair(t)
				gwUp, upstream := tcpPair(t)
				ch := make(chan relayResult, 1)
				r.add(gwClient, gwUp, time.Minute, func(res relayResult) { ch <- res })
				ends[i] = end{client, upstream, ch}
			}
			var wg sync.WaitGroup
			errs := make(chan error, conns)
			for i, e := range ends {
				wg.Go(func() {
					msg := []byte(fmt.Sprintf("conn %d %s", i, strings.Repeat("x", i*100)))
					go func() { // echo, passing the half-close on
						_, _ = io.Copy(e.upstream, e.upstream)
						_ = e.upstream.CloseWrite()
					}()
					if _, err := e.client.Write(msg); err != nil {
						errs <- err
						return
					}
					_ = e.client.SetReadDeadline(time.Now().Add(10 * time.Second))
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(e.client, got); err != nil || !bytes.Equal(got, msg) {
						errs <- fmt.Errorf("conn %d: echo %q, %v", i, got, err)
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			eventually(t, "idle relays still hold pipes", func() bool { return r.pipes.Load() == 0 })
			if tt.close {
				r.close()
			} else {
				for _, e := range ends {
					_ = e.client.CloseWrite() // the echo ends, closing its side
				}
			}
			for i, e := range ends {
				res := wait(t, e.done)
				want := "eof"
				if tt.close {
					want = "closed"
				}
				if n := int64(len(fmt.Sprintf("conn %d %s", i, strings.Repeat("x", i*100)))); res.reason != want || res.sent != n || res.received != n {
					t.Errorf("conn %d: result %+v, want %d bytes both ways, %s", i, res, n, want)
				}
				e.client.Close()
				e.upstream.Close()
			}
			r.close()
			eventually(t, "descriptors left open", func() bool { return openFDs(t) <= before })
		})
	}
}
