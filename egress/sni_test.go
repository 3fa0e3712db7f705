package egress

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"
)

// clientHello returns the first flight a crypto/tls client sends for sni.
func clientHello(t testing.TB, sni string) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		_ = tls.Client(c, &tls.Config{ServerName: sni, InsecureSkipVerify: sni == ""}).Handshake()
		c.Close()
	}()
	_ = s.SetReadDeadline(time.Now().Add(5 * time.Second))
	hdr := make([]byte, 5)
	if _, err := io.ReadFull(s, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := io.ReadFull(s, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

func TestReadClientHello(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		wantSNI string
		wantErr bool
	}{
		{name: "sni", in: clientHello(t, "api.example.test"), wantSNI: "api.example.test"},
		{name: "mixed case sni", in: clientHello(t, "API.Example.TEST"), wantSNI: "api.example.test"},
		{name: "no sni", in: clientHello(t, ""), wantSNI: ""},
		{name: "garbage", in: []byte("\x16\x03\x01\x00\x05hello"), wantErr: true},
		{name: "truncated", in: clientHello(t, "api.example.test")[:40], wantErr: true},
		{name: "plaintext http", in: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(bytes.NewReader(tt.in), sniffBufferSize)
			hello, err := readClientHello(br)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := requestHost(hello.ServerName); got != tt.wantSNI {
				t.Errorf("sni = %q, want %q", got, tt.wantSNI)
			}
			// Nothing may be consumed: the upstream must get every byte.
			if br.Buffered() != len(tt.in) {
				t.Errorf("buffered %d bytes, want all %d still unread", br.Buffered(), len(tt.in))
			}
		})
	}
}

func FuzzReadClientHello(f *testing.F) {
	f.Add(clientHello(f, "api.example.test"))
	f.Add(clientHello(f, ""))
	f.Add([]byte("\x16\x03\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(b), sniffBufferSize)
		_, _ = readClientHello(br)
	})
}

func BenchmarkReadClientHello(b *testing.B) {
	in := clientHello(b, "api.example.test")
	r := bytes.NewReader(in)
	br := bufio.NewReaderSize(r, sniffBufferSize)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(in)
		br.Reset(r)
		if _, err := readClientHello(br); err != nil {
			b.Fatal(err)
		}
	}
}

func TestRequestHostAndCleanPath(t *testing.T) {
	hosts := map[string]string{
		"api.example.test": "api.example.test", "API.example.test:8080": "api.example.test",
		"api.example.test.": "api.example.test", "[::1]:80": "::1", "10.0.0.1:80": "10.0.0.1", "": "",
	}
	for in, want := range hosts {
		if got := requestHost(in); got != want {
			t.Errorf("requestHost(%q) = %q, want %q", in, got, want)
		}
	}
	paths := map[string]string{
		"/a/b": "/a/b", "/public/../admin": "/admin", "//admin": "/admin", "/a/./b/": "/a/b/", "": "/", "/": "/",
	}
	for in, want := range paths {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}
