//go:build !linux

package rawsys

// Elsewhere than Linux the package is empty: its callers' raw paths
// (the relay loop, the DNS sockets) are Linux-only.
