//go:build !linux

package dnsproxy

import (
	"net"
	"net/netip"
)

// Elsewhere than Linux the query socket and the upstream sockets are read
// and written through package net (see rawudp.go for Linux's raw calls).

// rawUDP reads and writes datagrams on a UDP socket.
type rawUDP struct {
	pc *net.UDPConn
	// streak stays 0: whether a read would have waited is not known here,
	// so the read loop never yields (net's reads wait in the poller).
	streak int
}

func rawUDPOf(pc *net.UDPConn) (*rawUDP, error) { return &rawUDP{pc: pc}, nil }

// ReadFrom reads one datagram into b. An IPv4 client of a dual-stack
// socket comes back as IPv4, as on Linux.
func (u *rawUDP) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	n, from, err := u.pc.ReadFromUDPAddrPort(b)
	return n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), err
}

// WriteTo sends b to to.
func (u *rawUDP) WriteTo(b []byte, to netip.AddrPort) error {
	_, err := u.pc.WriteToUDPAddrPort(b, to)
	return err
}

// newRawConn returns the upstream socket c as it is.
func newRawConn(c net.Conn) (net.Conn, error) { return c, nil }
