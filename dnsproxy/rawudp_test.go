package dnsproxy

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/miekg/dns"
)

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

// Socket addresses survive encoding and decoding, link-local scope
// included, and a reused buffer carries nothing over from its last use.
func TestSockaddrRoundTrip(t *testing.T) {
	var sa unix.RawSockaddrAny
	for _, s := range []string{"192.0.2.1:53", "[2001:db8::1]:5353", "[fe80::1%3]:53", "127.0.0.1:1", "[::1]:65535"} {
		want := netip.MustParseAddrPort(s)
		n := putAddrPort(&sa, want)
		if got := addrPort(&sa); got != want {
			t.Errorf("%s came back as %s", want, got)
		}
		if want.Addr().Is6() {
			in := (*unix.RawSockaddrInet6)(unsafe.Pointer(&sa))
			if n != unix.SizeofSockaddrInet6 || in.Flowinfo != 0 {
				t.Errorf("%s: length %d, flow info %#x", want, n, in.Flowinfo)
			}
		} else if n != unix.SizeofSockaddrInet4 {
			t.Errorf("%s: length %d", want, n)
		}
	}
}

// Reading a query and writing an answer allocate nothing.
func TestRawUDPAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	pc, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	raw, err := rawUDPOf(pc)
	if err != nil {
		t.Fatal(err)
	}
	self := pc.LocalAddr().(*net.UDPAddr).AddrPort()
	msg, buf := make([]byte, 64), make([]byte, 512)
	n := testing.AllocsPerRun(100, func() {
		if err := raw.WriteTo(msg, self); err != nil {
			t.Fatal(err)
		}
		if n, from, err := raw.ReadFrom(buf); err != nil || n != len(msg) || from != self {
			t.Fatalf("read %d from %s: %v", n, from, err)
		}
	})
	if n != 0 {
		t.Errorf("%.1f allocations per datagram written and read, want 0", n)
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
