package kubetest

import (
	"context"
	"net"

	"github.com/egressgw/egressgw/internal/nsproc"
)

// netnsDialer dials from inside the network namespace ns (a name under
// /var/run/netns, as `ip netns add` makes): a socket stays in the
// namespace it was made in, whichever thread uses it later.
func netnsDialer(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := nsproc.Do(ns, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}
