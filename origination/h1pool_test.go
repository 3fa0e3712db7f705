package origination

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

const poolWait = 5 * time.Second // bound of every wait

// poolServer is a plaintext listener; each connection it accepts is read
// (and discarded) until the pool's side closes it.
type poolServer struct {
	ln       net.Listener
	accepted chan *serverConn
}

type serverConn struct {
	net.Conn
	eof chan struct{} // closed when the pool's side closed the connection
}

func newPoolServer(t *testing.T) *poolServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &poolServer{ln: ln, accepted: make(chan *serverConn, 16)}
	done := make(chan []net.Conn)
	t.Cleanup(func() {
		_ = ln.Close()
		for _, c := range <-done {
			_ = c.Close()
		}
	})
	go func() {
		var conns []net.Conn
		defer func() { done <- conns }()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
			sc := &serverConn{Conn: c, eof: make(chan struct{})}
			go func() {
				_, _ = io.Copy(io.Discard, c)
				close(sc.eof)
			}()
			s.accepted <- sc
		}
	}()
	return s
}

// upstream describes the server to a pool.
func (s *poolServer) upstream(key string) Upstream {
	return Upstream{
		Key:         key,
		IdleTimeout: time.Minute,
		Dial:        dialTo(s.ln.Addr().String()),
	}
}

// accept returns the server's side of the next connection dialled.
func (s *poolServer) accept(t *testing.T) *serverConn {
	t.Helper()
	select {
	case c := <-s.accepted:
		return c
	case <-time.After(poolWait):
		t.Fatal("the pool did not connect")
		return nil
	}
}

// waitEOF checks that the pool closes the connection.
func (c *serverConn) waitEOF(t *testing.T, why string) {
	t.Helper()
	select {
	case <-c.eof:
	case <-time.After(poolWait):
		t.Fatalf("the pool did not close the connection: %s", why)
	}
}

func (c *serverConn) open() bool {
	select {
	case <-c.eof:
		return false
	default:
		return true
	}
}

func get(t *testing.T, p *H1Pool, host string) *H1Conn {
	t.Helper()
	c, err := p.Get(context.Background(), host)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (p *H1Pool) idleCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.idle {
		n += len(l)
	}
	return n
}

func TestH1PoolReuse(t *testing.T) {
	srv := newPoolServer(t)
	p := newH1Pool(srv.upstream("k"), nil)
	a := get(t, p, "a.example.test")
	sa := srv.accept(t)
	if a.Reused {
		t.Error("a new connection says Reused")
	}
	p.Put(a)
	if got := get(t, p, "a.example.test"); got != a || !got.Reused {
		t.Fatalf("Get after Put: %p (Reused %v), want the connection given back, %p, Reused", got, got.Reused, a)
	}
	b := get(t, p, "b.example.test")
	srv.accept(t)
	if b == a || b.Reused {
		t.Error("another host got the first host's connection")
	}
	// Most recently used first.
	a2 := get(t, p, "a.example.test")
	srv.accept(t)
	p.Put(a)
	p.Put(a2)
	if got := get(t, p, "a.example.test"); got != a2 {
		t.Error("Get did not return the most recently put connection")
	}
	if !sa.open() {
		t.Error("a reused connection was closed")
	}
}

func TestH1PoolIdleTimeout(t *testing.T) {
	t.Run("stale connection is closed, not returned", func(t *testing.T) {
		srv := newPoolServer(t)
		p := newH1Pool(srv.upstream("k"), nil) // IdleTimeout: a minute, no sweep meanwhile
		c := get(t, p, "h")
		sc := srv.accept(t)
		p.Put(c)
		p.mu.Lock()
		c.idleSince = time.Now().Add(-time.Hour)
		p.mu.Unlock()
		got := get(t, p, "h")
		if got == c || got.Reused {
			t.Fatal("Get returned a connection idle for longer than IdleTimeout")
		}
		srv.accept(t)
		sc.waitEOF(t, "Get found it stale")
	})
	t.Run("sweep closes idle connections", func(t *testing.T) {
		srv := newPoolServer(t)
		u := srv.upstream("k")
		u.IdleTimeout = 50 * time.Millisecond
		p := newH1Pool(u, nil)
		c := get(t, p, "h")
		sc := srv.accept(t)
		p.Put(c)
		sc.waitEOF(t, "idle past IdleTimeout")
		if n := p.idleCount(); n != 0 {
			t.Errorf("%d connections still idle after the sweep", n)
		}
		if got := get(t, p, "h"); got == c || got.Reused {
			t.Error("Get returned the swept connection")
		}
		srv.accept(t)
	})
	t.Run("sweep comes back for connections not yet stale", func(t *testing.T) {
		srv := newPoolServer(t)
		u := srv.upstream("k")
		u.IdleTimeout = 50 * time.Millisecond
		p := newH1Pool(u, nil)
		stale, fresh := get(t, p, "h"), get(t, p, "h")
		sStale, sFresh := srv.accept(t), srv.accept(t)
		p.Put(stale)
		p.Put(fresh)
		p.mu.Lock()
		fresh.idleSince = time.Now().Add(500 * time.Millisecond) // still fresh at the first sweep
		p.mu.Unlock()
		sStale.waitEOF(t, "idle past IdleTimeout")
		sFresh.waitEOF(t, "idle past IdleTimeout at a later sweep")
	})
}

func TestH1PoolKeepAlive(t *testing.T) {
	tests := []struct {
		name string
		max  int
		want []bool // KeepAlive on each use, until false
	}{
		{name: "unlimited", want: []bool{true, true, true}},
		{name: "MaxRequests 2", max: 2, want: []bool{true, false}},
		{name: "MaxRequests 3", max: 3, want: []bool{true, true, false}},
		{name: "MaxRequests 1 (no reuse)", max: 1, want: []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newPoolServer(t)
			u := srv.upstream("k")
			u.MaxRequests = tt.max
			p := newH1Pool(u, nil)
			var first *H1Conn
			var sc *serverConn
			for i, want := range tt.want {
				c := get(t, p, "h")
				if i == 0 {
					first, sc = c, srv.accept(t)
				} else if c != first || !c.Reused {
					t.Fatalf("use %d: got a new connection, want the first one again", i+1)
				}
				if got := p.KeepAlive(c); got != want {
					t.Fatalf("use %d: KeepAlive %v, want %v", i+1, got, want)
				}
				p.Put(c)
			}
			if tt.want[len(tt.want)-1] {
				if !sc.open() || p.idleCount() != 1 {
					t.Error("a connection that may serve more requests was not kept")
				}
				return
			}
			sc.waitEOF(t, "Put after its last allowed request")
			if p.idleCount() != 0 {
				t.Error("a used-up connection is idle in the pool")
			}
			if c := get(t, p, "h"); c == first || c.Reused {
				t.Error("Get returned a used-up connection")
			}
		})
	}
}

func TestH1ConnAlive(t *testing.T) {
	tests := []struct {
		name   string
		server func(t *testing.T, sc *serverConn)
		want   bool
	}{
		{name: "open and quiet", server: func(*testing.T, *serverConn) {}, want: true},
		{name: "closed by the server", server: func(_ *testing.T, sc *serverConn) { _ = sc.Close() }},
		{name: "server sent bytes unasked", server: func(t *testing.T, sc *serverConn) {
			if _, err := sc.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newPoolServer(t)
			p := newH1Pool(srv.upstream("k"), nil)
			c := get(t, p, "h")
			defer c.Close()
			tt.server(t, srv.accept(t))
			if tt.want {
				if !c.Alive() {
					t.Error("Alive false for an open, quiet connection")
				}
				return
			}
			// What the server did reaches this side asynchronously.
			for end := time.Now().Add(poolWait); c.Alive(); {
				if time.Now().After(end) {
					t.Fatal("Alive still true")
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
	t.Run("Alive does not consume what the server sent", func(t *testing.T) {
		srv := newPoolServer(t)
		p := newH1Pool(srv.upstream("k"), nil)
		c := get(t, p, "h")
		defer c.Close()
		if _, err := srv.accept(t).Write([]byte("xy")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(poolWait))
		if b, err := c.R.ReadByte(); err != nil || b != 'x' {
			t.Fatalf("read %q, %v", b, err)
		}
		if c.Alive() {
			t.Error("Alive true with a byte buffered in R")
		}
		if b, err := c.R.ReadByte(); err != nil || b != 'y' {
			t.Errorf("read %q, %v after Alive; want the buffered byte", b, err)
		}
	})
}

func TestH1PoolClose(t *testing.T) {
	t.Run("Retain drops the pool: idle closed, later Puts close", func(t *testing.T) {
		srv := newPoolServer(t)
		pool := NewPool(nil)
		u := srv.upstream("old")
		h := pool.H1(u)
		idle, busy := get(t, h, "h"), get(t, h, "h")
		sIdle, sBusy := srv.accept(t), srv.accept(t)
		h.Put(idle)
		pool.Retain(map[string]bool{})
		sIdle.waitEOF(t, "idle when its pool was dropped")
		h.Put(busy)
		sBusy.waitEOF(t, "put back after its pool was dropped")
		if h.idleCount() != 0 {
			t.Error("connections idle in a dropped pool")
		}
		if pool.H1(u) == h {
			t.Error("Retain kept a pool whose key it was not given")
		}
	})
	t.Run("CloseIdle closes idle connections, the pool stays usable", func(t *testing.T) {
		srv := newPoolServer(t)
		pool := NewPool(nil)
		h := pool.H1(srv.upstream("k"))
		idle, busy := get(t, h, "h"), get(t, h, "h")
		sIdle, sBusy := srv.accept(t), srv.accept(t)
		h.Put(idle)
		pool.CloseIdle()
		sIdle.waitEOF(t, "idle at CloseIdle")
		h.Put(busy)
		if got := get(t, h, "h"); got != busy || !sBusy.open() {
			t.Error("a connection put back after CloseIdle was not kept")
		}
	})
	t.Run("closeIdle(true) stops the sweep", func(t *testing.T) {
		srv := newPoolServer(t)
		u := srv.upstream("k")
		u.IdleTimeout = time.Hour
		p := newH1Pool(u, nil)
		p.Put(get(t, p, "h"))
		srv.accept(t)
		p.closeIdle(true)
		p.mu.Lock()
		armed := p.timer != nil
		p.mu.Unlock()
		if armed {
			t.Error("the sweep timer is still armed after the pool closed")
		}
	})
}

// TestH1PoolDialError: a failed dial is returned, not a connection.
func TestH1PoolDialError(t *testing.T) {
	want := errors.New("no route")
	p := newH1Pool(Upstream{Key: "k", IdleTimeout: time.Minute,
		Dial: func(context.Context, string) (*net.TCPConn, error) { return nil, want }}, nil)
	if c, err := p.Get(context.Background(), "h"); !errors.Is(err, want) || c != nil {
		t.Errorf("Get = %v, %v; want the dial error", c, err)
	}
}

// TestH1ConnLimitHead: a response head within MaxResponseHeaderBytes is
// read; one over it fails with ErrResponseHeadTooLarge, which names the
// limit, and the body after a head is not bounded.
func TestH1ConnLimitHead(t *testing.T) {
	head := func(n int) string {
		return "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("x", n) + "\r\nContent-Length: 200000\r\n\r\n"
	}
	for _, tt := range []struct {
		name    string
		head    string
		wantErr error
	}{
		{"under the limit", head(MaxResponseHeaderBytes - 1000), nil},
		{"over the limit", head(MaxResponseHeaderBytes), ErrResponseHeadTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newPoolServer(t)
			p := newH1Pool(srv.upstream("k"), nil)
			c := get(t, p, "h")
			defer c.Close()
			sc := srv.accept(t)
			go func() { _, _ = io.WriteString(sc, tt.head+strings.Repeat("b", 200000)) }()
			_ = c.SetReadDeadline(time.Now().Add(poolWait))
			c.LimitHead()
			resp, err := http.ReadResponse(c.R, nil)
			c.Unlimit()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("reading the head: %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !strings.Contains(err.Error(), "64 KiB") {
					t.Errorf("error %q does not name the limit", err)
				}
				return
			}
			if n, err := io.Copy(io.Discard, resp.Body); n != 200000 || err != nil {
				t.Errorf("body: %d bytes, %v; want 200000", n, err)
			}
		})
	}
}
