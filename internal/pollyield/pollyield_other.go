//go:build !linux

package pollyield

import (
	"runtime"
	"sync/atomic"
)

// Yielder, elsewhere than Linux, only lets the other runnable goroutines
// run: the loops that yield read through package net there, whose reads
// wait in the poller by themselves.
type Yielder struct{ yields atomic.Int64 }

// New returns a Yielder.
func New() (*Yielder, error) { return &Yielder{}, nil }

// Yield lets the other runnable goroutines run (runtime.Gosched).
func (y *Yielder) Yield() {
	y.yields.Add(1)
	runtime.Gosched()
}

// Yields is how many times Yield was called, for tests.
func (y *Yielder) Yields() int64 { return y.yields.Load() }

// Close does nothing: the Yielder holds no resource here.
func (y *Yielder) Close() error { return nil }
