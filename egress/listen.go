//go:build linux

package egress

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/egressgw/egressgw/internal/reuseport"
)

// clientKeepAlive is the TCP keep-alive of client connections: Go's default
// for accepted connections (probes after 15 s idle, every 15 s, 9 of them).
// It is set once on the listening socket, whose accepted connections inherit
// it on Linux, rather than by Go on each accepted connection: four
// setsockopt(2) calls fewer per connection.
var clientKeepAlive = [...]struct{ level, opt, val int }{
	{unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1},
	{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, 15},
	{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 15},
	{unix.IPPROTO_TCP, unix.TCP_KEEPCNT, 9},
}

// listenTCP listens on addr for client connections. With reusePort the
// socket sets SO_REUSEPORT, so that another gateway (a rolling update's
// new pod) can listen beside it.
func listenTCP(addr netip.AddrPort, reusePort bool) (*net.TCPListener, error) {
	lc := net.ListenConfig{
		KeepAlive: -1, // inherited from the listener instead: see clientKeepAlive
		Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				for _, o := range clientKeepAlive {
					if serr == nil {
						serr = unix.SetsockoptInt(int(fd), o.level, o.opt, o.val)
					}
				}
				if serr == nil && reusePort {
					serr = reuseport.Set(fd)
				}
			})
			if err == nil && serr != nil {
				err = fmt.Errorf("set socket options: %w", serr)
			}
			return err
		},
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr.String())
	if err != nil {
		return nil, err
	}
	return ln.(*net.TCPListener), nil
}
