//go:build linux

package dnsproxy

import (
	"net"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
