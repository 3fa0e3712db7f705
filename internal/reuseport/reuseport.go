//go:build linux

// Package reuseport sets SO_REUSEPORT on listening sockets, so that a
// second gateway (the new pod of a DaemonSet's rolling update, on the same
// node and address) can listen beside the first, and the kernel spreads new
// connections and datagrams over both until the old one closes.
package reuseport

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// Set sets SO_REUSEPORT on the socket fd.
func Set(fd uintptr) error {
	if err := unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
		return fmt.Errorf("SO_REUSEPORT: %w", err)
	}
	return nil
}

// Control is a net.ListenConfig Control that sets SO_REUSEPORT.
func Control(_, _ string, rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = Set(fd) }); err != nil {
		return err
	}
	return serr
}
