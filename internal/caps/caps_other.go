//go:build !linux

package caps

// RaiseEffective is Linux-only; elsewhere it does nothing.
func RaiseEffective() (uint64, error) { return 0, nil }
