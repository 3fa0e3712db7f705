package dnsproxy

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestServeUDPMatchesMiekg sends the same datagrams to our UDP loop and to
// miekg's dns.Server, both with the same handler, and wants the same bytes
// back (or silence from both): the loop accepts, rejects and ignores as
// miekg does.
func TestServeUDPMatchesMiekg(t *testing.T) {
	up := startUpstream(t)
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: up.addr, BlockUnregistered: true})
	ours := serve(t, h)
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan struct{})
	theirs := &dns.Server{PacketConn: pc, Handler: h, UDPSize: dns.MaxMsgSize, NotifyStartedFunc: func() { close(started) }}
	go func() { _ = theirs.ActivateAndServe() }()
	t.Cleanup(func() { _ = theirs.Shutdown() })
	<-started

	pack := func(m *dns.Msg) []byte {
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	valid := pack(query("api.example.com.", dns.TypeA, 1232))
	withBits := func(f func(m *dns.Msg)) []byte {
		m := query("api.example.com.", dns.TypeA, 0)
		f(m)
		return pack(m)
	}
	twoQuestions := withBits(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) })
	tests := []struct {
		name string
		in   []byte
	}{
		{"intercepted", valid},
		{"forwarded", pack(query("kubernetes.default.svc.cluster.local.", dns.TypeA, 0))},
		{"blocked", pack(query("blocked.example.net.", dns.TypeAAAA, 1232))},
		{"shorter than a header", valid[:11]},
		{"a response", withBits(func(m *dns.Msg) { m.Response = true })},
		{"opcode UPDATE", withBits(func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate })},
		{"opcode NOTIFY", withBits(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify })},
		{"two questions", twoQuestions},
		{"truncated question", valid[:20]},
		{"garbage after the header", append(append([]byte(nil), valid[:12]...), 0xff, 0xff, 0xff)},
		{"EDNS version 1", withBits(func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := exchangeRaw(t, ours.Addr(), tt.in), exchangeRaw(t, pc.LocalAddr().String(), tt.in)
			if !bytes.Equal(a, b) {
				t.Errorf("our loop answered\n%s\nmiekg's server\n%s", hex.Dump(a), hex.Dump(b))
			}
			if tt.name == "intercepted" && len(a) == 0 {
				t.Error("no answer to a valid query")
			}
		})
	}
}

// exchangeRaw sends b and returns the reply, or nil if none came within a short wait.
func exchangeRaw(t *testing.T, addr string, b []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, dns.MaxMsgSize)
	n, err := c.Read(buf)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

// Answers reach clients whatever the query socket's family: IPv4, IPv6,
// and an IPv4 client of a dual-stack socket (addressed IPv4-mapped).
func TestUDPAnswersEachFamily(t *testing.T) {
	answer := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg).SetReply(r)
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5}, A: net.IPv4(192, 0, 2, 1)})
		_ = w.WriteMsg(m)
	})
	for _, tt := range []struct{ name, listen, client string }{
		{"IPv4", "127.0.0.1:0", "127.0.0.1"},
		{"IPv6", "[::1]:0", "::1"},
		{"IPv4 client, dual-stack socket", "[::]:0", "127.0.0.1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if pc, err := net.ListenPacket("udp", tt.listen); err != nil {
				t.Skipf("no %s here: %v", tt.listen, err)
			} else {
				_ = pc.Close()
			}
			s := NewServer(tt.listen, answer)
			if err := s.Start(); err != nil {
				t.Fatal(err)
			}
			defer s.Shutdown(context.Background())
			_, port, _ := net.SplitHostPort(s.Addr())
			c := &dns.Client{Timeout: 2 * time.Second}
			r, _, err := c.Exchange(new(dns.Msg).SetQuestion("a.example.", dns.TypeA), net.JoinHostPort(tt.client, port))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Answer) != 1 {
				t.Fatalf("answer: %v", r)
			}
		})
	}
}

// Telling a query of our UDP loop from a TCP one allocates nothing.
func TestOverTCPAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	w := &udpWriter{to: netip.MustParseAddrPort("127.0.0.1:5353")}
	if n := testing.AllocsPerRun(100, func() {
		if overTCP(w) {
			t.Fatal("a UDP query taken for TCP")
		}
	}); n != 0 {
		t.Errorf("%.1f allocations per overTCP, want 0", n)
	}
}
