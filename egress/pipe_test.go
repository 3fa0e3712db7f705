package egress

import (
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.AcceptTCP()
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}

func TestPipeCopiesAndHalfCloses(t *testing.T) {
	client, gwClient := tcpPair(t)
	gwUp, upstream := tcpPair(t)
	done := make(chan pipeResult, 1)
	go func() { done <- pipe(gwClient, gwUp, time.Minute) }()

	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	_ = client.CloseWrite() // the upstream must see EOF and still be able to answer
	_ = upstream.SetDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(upstream)
	if err != nil || string(got) != "hello" {
		t.Fatalf("upstream read %q, %v; want hello then EOF", got, err)
	}
	if _, err := upstream.Write([]byte("world!")); err != nil {
		t.Fatal(err)
	}
	upstream.Close()
	_ = client.SetDeadline(time.Now().Add(5 * time.Second))
	back, err := io.ReadAll(client)
	if err != nil || string(back) != "world!" {
		t.Fatalf("client read %q, %v; want world!", back, err)
	}
	select {
	case res := <-done:
		if res.sent != 5 || res.received != 6 {
			t.Errorf("bytes sent/received = %d/%d, want 5/6", res.sent, res.received)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("pipe did not end after both sides closed")
	}
}

func TestPipeIdleTimeout(t *testing.T) {
	client, gwClient := tcpPair(t)
	gwUp, upstream := tcpPair(t)
	defer client.Close()
	defer upstream.Close()
	done := make(chan pipeResult, 1)
	go func() { done <- pipe(gwClient, gwUp, 300*time.Millisecond) }()
	// Traffic keeps it open past one idle period.
	for range 3 {
		time.Sleep(150 * time.Millisecond)
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case res := <-done:
		if res.reason != "idle_timeout" {
			t.Errorf("reason = %q, want idle_timeout", res.reason)
		}
		if res.sent != 3 {
			t.Errorf("sent = %d, want 3", res.sent)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("idle connection was not closed")
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err == nil {
		t.Error("client connection still open after the idle timeout")
	}
}
