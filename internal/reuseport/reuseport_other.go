//go:build !linux

package reuseport

import (
	"errors"
	"syscall"
)

var errUnsupported = errors.New("SO_REUSEPORT (--reuse-port) is supported on Linux only")

// Set fails elsewhere than Linux.
func Set(uintptr) error { return errUnsupported }

// Control fails elsewhere than Linux.
func Control(_, _ string, _ syscall.RawConn) error { return errUnsupported }
