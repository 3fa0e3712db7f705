//go:build linux

// Package caps makes the capabilities egressgw was given usable as a
// non-root user. The image's binary carries file capabilities
// (cap_net_bind_service and cap_net_admin, permitted but not effective), so
// the kernel puts whichever of them the container's bounding set allows
// into the process's permitted set and none into its effective set:
// without the effective bit, a container that does not add NET_ADMIN still
// starts (the kernel refuses to exec a binary whose effective file
// capabilities it cannot all grant). RaiseEffective then makes every
// permitted capability effective on every thread.
//
// Kubernetes does not give a non-root container's added capabilities to its
// process (they reach the bounding set only), hence the file capabilities;
// and the kernel ignores file capabilities under no_new_privs, so the
// DaemonSet cannot set allowPrivilegeEscalation: false.
package caps

import (
	"errors"
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ErrCgo is returned where the binary was built with cgo: Go can then not
// change every thread's capabilities (syscall.AllThreadsSyscall).
var ErrCgo = errors.New("built with cgo: cannot set the capabilities of every thread (build with CGO_ENABLED=0)")

// RaiseEffective makes the process's permitted capabilities effective on
// all its threads. It is a no-op when they already are (root, or nothing
// permitted). It returns the effective set it leaves.
func RaiseEffective() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("read capabilities: %w", err)
	}
	permitted := uint64(data[0].Permitted) | uint64(data[1].Permitted)<<32
	effective := uint64(data[0].Effective) | uint64(data[1].Effective)<<32
	if effective == permitted {
		return effective, nil
	}
	data[0].Effective, data[1].Effective = data[0].Permitted, data[1].Permitted
	_, _, errno := syscall.AllThreadsSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&hdr)), uintptr(unsafe.Pointer(&data[0])), 0)
	switch {
	case errno == syscall.ENOTSUP:
		return effective, fmt.Errorf("raise capabilities: %w", ErrCgo)
	case errno != 0:
		return effective, fmt.Errorf("raise capabilities: %w", errno)
	}
	return permitted, nil
}
