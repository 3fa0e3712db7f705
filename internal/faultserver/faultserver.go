// Package faultserver runs loopback servers that misbehave on purpose, for
// the tests of more than one package. It is not for production use.
package faultserver

import (
	"net"
	"testing"
	"time"
)

// ResetAfterHello listens on loopback and, on each connection, reads the
// client's first bytes (a TLS ClientHello) and resets it (SO_LINGER 0). It
// returns the listener's address; the listener is closed when the test ends.
func ResetAfterHello(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _ = c.Read(make([]byte, 512))
			_ = c.(*net.TCPConn).SetLinger(0)
			_ = c.Close()
		}
	}()
	return ln.Addr().String()
}
