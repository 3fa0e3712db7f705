package peek

import (
	"net"
	"testing"
	"time"
)

// pair returns the two ends of a loopback TCP connection, closed when the test ends.
func pair(t *testing.T) (c *net.TCPConn, s net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if s, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return d.(*net.TCPConn), s
}

func TestConn(t *testing.T) {
	tc, s := pair(t)
	c := tc
	// eventually waits, bounded, for what the peer did to arrive.
	eventually := func(want State) {
		t.Helper()
		deadline := time.Now().Add(2 * time.Second)
		for Conn(tc) != want {
			if time.Now().After(deadline) {
				t.Fatalf("state %d, want %d", Conn(tc), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if got := Conn(tc); got != Empty {
		t.Fatalf("fresh connection: state %d, want Empty", got)
	}
	if _, err := s.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	eventually(Ready)
	if got := Conn(tc); got != Ready {
		t.Fatalf("a peek took the byte: state %d on the second look", got)
	}
	b := make([]byte, 1)
	if _, err := c.Read(b); err != nil || b[0] != 'x' {
		t.Fatalf("read %q, %v after peeking", b, err)
	}
	_ = s.Close()
	eventually(Closed)
}

// TestConnPastDeadline: a read deadline that has passed does not make an
// open, silent connection look closed.
func TestConnPastDeadline(t *testing.T) {
	c, _ := pair(t)
	_ = c.SetReadDeadline(time.Now().Add(-time.Second))
	if got := Conn(c); got != Empty {
		t.Fatalf("silent connection past its read deadline: state %d, want Empty", got)
	}
}
