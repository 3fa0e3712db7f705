//go:build !linux

package linklocal

import (
	"errors"
	"net/netip"
)

// ErrNoPermission: see the Linux build.
var ErrNoPermission = errors.New("needs CAP_NET_ADMIN")

// Result: see the Linux build.
type Result struct {
	Created bool
	Kind    string
}

// Ensure is Linux-only: interfaces are made through rtnetlink.
func Ensure(name string, addr netip.Addr) (Result, error) {
	return Result{}, errors.New("egress interface " + name + ": --egress-interface is supported on Linux only")
}
