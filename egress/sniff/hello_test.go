package sniff

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// clientHello returns the first flight a crypto/tls client sends for sni.
func clientHello(t testing.TB, sni string) []byte {
	return clientHelloWith(t, &tls.Config{ServerName: sni, InsecureSkipVerify: sni == ""})
}

func clientHelloWith(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	c, s := net.Pipe()
	defer s.Close()
	go func() {
		_ = tls.Client(c, cfg).Handshake()
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
			br := bufio.NewReaderSize(bytes.NewReader(tt.in), BufferSize)
			hello, err := ReadClientHello(br)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got := strings.ToLower(hello.ServerName); got != tt.wantSNI {
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
	// Seeds without the 1.2 KB ML-KEM key share of a default Go hello: with
	// it, the fuzz engine spends its time on coverage bookkeeping, not inputs.
	f.Add(clientHelloWith(f, &tls.Config{ServerName: "api.example.test", CurvePreferences: []tls.CurveID{tls.X25519}, NextProtos: []string{"h2"}}))
	f.Add(clientHelloWith(f, &tls.Config{InsecureSkipVerify: true, CurvePreferences: []tls.CurveID{tls.X25519}, MaxVersion: tls.VersionTLS12}))
	f.Add([]byte("\x16\x03\x01\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		br := bufio.NewReaderSize(bytes.NewReader(b), BufferSize)
		_, _ = ReadClientHello(br)
	})
}

func BenchmarkReadClientHello(b *testing.B) {
	in := clientHello(b, "api.example.test")
	r := bytes.NewReader(in)
	br := bufio.NewReaderSize(r, BufferSize)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(in)
		br.Reset(r)
		if _, err := ReadClientHello(br); err != nil {
			b.Fatal(err)
		}
	}
}
