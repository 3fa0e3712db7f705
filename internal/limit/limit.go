// Package limit reads through a byte budget that the reader's owner sets
// and lifts: the gateway reads request and response heads through it, so
// that an endless head fails with an error of its own instead of growing a
// buffer without bound.
package limit

import "io"

// Reader reads from R until N bytes were read, then fails with Err.
// N may be reset at any time by the goroutine that reads.
type Reader struct {
	R   io.Reader
	N   int64
	Err error
}

func (l *Reader) Read(p []byte) (int, error) {
	if l.N <= 0 {
		return 0, l.Err
	}
	if int64(len(p)) > l.N {
		p = p[:l.N]
	}
	n, err := l.R.Read(p)
	l.N -= int64(n)
	return n, err
}
