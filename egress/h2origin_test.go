package egress

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// listenH2Origin starts an HTTP/2 TLS origin on loopback with the test
// certificate in dir and hands each connection it accepts to serve (n
// counts them from 0), with a deadline wait ahead; the connection is
// closed when serve returns. It returns the origin's address; the
// listener is closed, and every serve awaited, at the test's cleanup.
func listenH2Origin(t *testing.T, dir string, wait time.Duration, serve func(c net.Conn, n int)) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{originCert(t, dir)}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(wait))
				serve(c, n)
			}()
		}
	}()
	return ln.Addr().String()
}

// h2OriginConn is the server side of one connection of a test origin
// driven frame by frame: its Framer reads header blocks decoded, and
// answer writes a whole response.
type h2OriginConn struct {
	*http2.Framer
	hbuf bytes.Buffer
	enc  *hpack.Encoder
}

// startH2Origin reads the client preface from c and sends the origin's
// SETTINGS; it returns nil if either fails.
func startH2Origin(c net.Conn) *h2OriginConn {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return nil
	}
	h := &h2OriginConn{Framer: http2.NewFramer(c, c)}
	h.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.hbuf)
	if h.WriteSettings() != nil {
		return nil
	}
	return h
}

// readFrame reads the next frame other than SETTINGS, acknowledging the
// client's SETTINGS on the way.
func (h *h2OriginConn) readFrame() (http2.Frame, error) {
	for {
		f, err := h.ReadFrame()
		if err != nil {
			return nil, err
		}
		sf, ok := f.(*http2.SettingsFrame)
		if !ok {
			return f, nil
		}
		if !sf.IsAck() {
			_ = h.WriteSettingsAck()
		}
	}
}

// answer sends a 200 with body (and its content-length) on stream id,
// ending the stream.
func (h *h2OriginConn) answer(id uint32, body string) {
	h.hbuf.Reset()
	_ = h.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	_ = h.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
	_ = h.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: h.hbuf.Bytes(), EndHeaders: true})
	_ = h.WriteData(id, true, []byte(body))
}
