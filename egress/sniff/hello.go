// Package sniff tells what a new connection is without consuming it: it
// reads a TLS ClientHello from a buffered reader's peek window, and sends
// the TLS alerts the gateway refuses connections with.
package sniff

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"time"
)

// RecordTypeHandshake is the first byte of a TLS ClientHello record.
const RecordTypeHandshake = 0x16

var errHelloRead = errors.New("client hello read")

// ReadClientHello returns the ClientHello the client sent through br
// without consuming it: crypto/tls parses the peeked bytes, and the
// handshake is abandoned as soon as the hello is known. Nothing is written
// to the client.
func ReadClientHello(br *bufio.Reader) (*tls.ClientHelloInfo, error) {
	var hello *tls.ClientHelloInfo
	cfg := &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		hello = h
		return nil, errHelloRead
	}}
	err := tls.Server(&peekConn{br: br}, cfg).Handshake()
	if hello != nil {
		return hello, nil
	}
	if err == nil {
		err = errors.New("no ClientHello")
	}
	return nil, err
}

// peekConn serves reads from a bufio.Reader's peek window, so the bytes
// stay buffered for the upstream. Writes are dropped.
type peekConn struct {
	br  *bufio.Reader
	off int
}

func (c *peekConn) Read(p []byte) (int, error) {
	if c.br.Buffered() <= c.off {
		if _, err := c.br.Peek(c.off + 1); err != nil {
			return 0, err
		}
	}
	buf, _ := c.br.Peek(c.br.Buffered())
	n := copy(p, buf[c.off:])
	c.off += n
	return n, nil
}

func (c *peekConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *peekConn) Close() error                     { return nil }
func (c *peekConn) LocalAddr() net.Addr              { return nil }
func (c *peekConn) RemoteAddr() net.Addr             { return nil }
func (c *peekConn) SetDeadline(time.Time) error      { return nil }
func (c *peekConn) SetReadDeadline(time.Time) error  { return nil }
func (c *peekConn) SetWriteDeadline(time.Time) error { return nil }

// TLS alert descriptions sent to refused TLS clients (RFC 8446 6.2).
const (
	AlertAccessDenied     = 49
	AlertInternalError    = 80
	AlertUnrecognizedName = 112
)

// BufferSize holds the largest TLS record (a ClientHello fits in one).
const BufferSize = 16<<10 + 5

// WriteAlert sends a fatal TLS alert record before any handshake.
func WriteAlert(c net.Conn, desc byte) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = c.Write([]byte{0x15, 0x03, 0x01, 0x00, 0x02, 0x02, desc})
}
