package servercert

import (
	"sync/atomic"
	"time"
)

// logLimiter lets one log line through per logEvery and counts the ones it
// held back, so that clients cannot flood the log. The zero value is ready.
type logLimiter struct {
	last    atomic.Int64 // unix nanoseconds of the last line let through
	dropped atomic.Uint64
}

const logEvery = time.Second

// allow reports whether a line may be logged now and, if so, how many were
// held back since the last one.
func (l *logLimiter) allow(now time.Time) (uint64, bool) {
	last := l.last.Load()
	if last != 0 && now.UnixNano()-last < int64(logEvery) || !l.last.CompareAndSwap(last, now.UnixNano()) {
		l.dropped.Add(1)
		return 0, false
	}
	return l.dropped.Swap(0), true
}
