//go:build !linux

package egress

import (
	"context"
	"net"
	"net/netip"
)

// listenTCP listens on addr for client connections; Go sets TCP
// keep-alive on each accepted one (on Linux the listener's own setting is
// inherited instead: listen.go). reusePort is Linux's only.
func listenTCP(addr netip.AddrPort, _ bool) (*net.TCPListener, error) {
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}
