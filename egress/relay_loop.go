//go:build linux

package egress

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/egressgw/egressgw/internal/rawsys"
)

// The relay moves the bytes of passthrough and TCP connections once their
// upstream is connected. A connection copied by two goroutines costs their
// stacks and, with io.Copy's splice, two pipes held for its whole life,
// idle or not. Here a few event loops (one per GOMAXPROCS, connections
// assigned round-robin) own the sockets, taken out of Go's netpoller, and
// splice(2) through a pipe borrowed from a small pool only while bytes
// move: a held idle connection costs its two sockets and a small struct.
//
// Sockets are registered edge-triggered (EPOLLET) for input and output at
// once and never modified: the loop keeps its own readiness flags, set by
// events and cleared when a splice says EAGAIN. So back-pressure costs no
// epoll_ctl: a direction whose destination is full keeps its pipe, stops
// reading its source and resumes on the destination's next EPOLLOUT edge.
// A direction that still has input after its turn is queued to run again
// after the loop has served everyone else's events. The loop waits for its
// epoll set in Go's netpoller (see run), not in a blocking epoll_wait.
// None of its system calls can block, so they are made without the
// runtime's system call entry (internal/rawsys says why that matters).

const (
	// pipeSize is asked of F_SETPIPE_SZ (Go's own splice uses the same):
	// bigger pipes mean fewer splices per byte in bulk transfers. Pages are
	// only allocated for bytes in flight.
	pipeSize = 1 << 20
	// turn bounds the splices into a pipe one direction makes before the
	// loop serves other connections.
	turn = 16
	// sparePipes bounds the empty pipes each loop keeps for reuse.
	sparePipes = 8
	// maxTick bounds the idle sweep's period.
	maxTick = time.Second
	// readSize is the loop's buffer for the first read of a burst.
	readSize = 64 << 10
)

// start starts one loop per GOMAXPROCS; if that fails, r.err says why and
// the relay uses io.Copy.
func (r *relay) start() {
	n := runtime.GOMAXPROCS(0)
	loops := make([]*loop, 0, n)
	for range n {
		lp, err := newLoop(r)
		if err != nil {
			for _, lp := range loops {
				lp.mu.Lock()
				lp.closing = true
				lp.wake()
				lp.mu.Unlock()
				<-lp.exited
			}
			r.err = fmt.Errorf("relay: %w", err)
			return
		}
		loops = append(loops, lp)
	}
	r.loops = loops
}

// take relays client and upstream on lp (relay.add).
func (lp *loop) take(client, upstream *net.TCPConn, idle time.Duration, done func(relayResult)) {
	c := &relayConn{fd: [2]int{-1, -1}, idle: idle, done: done}
	var err error
	for i, tc := range [2]*net.TCPConn{client, upstream} {
		if err == nil {
			c.fd[i], err = detach(tc)
		}
		_ = tc.Close()
	}
	if err != nil {
		c.end(relayResult{reason: "error: " + err.Error()})
		return
	}
	lp.add(c)
}

// stop ends lp's connections ("closed") and returns once lp is gone.
func (lp *loop) stop() {
	lp.mu.Lock()
	if !lp.closing {
		lp.closing = true
		lp.wake()
	}
	lp.mu.Unlock()
	<-lp.exited
}

// detach takes c's socket out of Go's netpoller: a duplicate of its
// descriptor survives c.Close, which deregisters c. The file description,
// O_NONBLOCK included, is shared, and the net package makes every socket
// non-blocking (accept4 and socket with SOCK_NONBLOCK), so the duplicate
// is non-blocking as the loop needs without another system call.
func detach(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var dupErr error
	if err := rc.Control(func(s uintptr) { fd, dupErr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0) }); err != nil {
		return -1, err
	}
	if dupErr != nil {
		return -1, fmt.Errorf("dup: %w", dupErr)
	}
	return fd, nil
}

// loop is one event loop: a goroutine waiting for its epoll set's events.
type loop struct {
	r      *relay
	epfd   int
	ep     *os.File      // epfd, for waiting in Go's netpoller
	wakefd int           // eventfd in the epoll set: add and close wake run through it
	exited chan struct{} // closed when run returns

	broken atomic.Bool // run panicked: its connections were ended and it serves no more

	mu      sync.Mutex
	conns   []*relayConn  // by descriptor (both of each connection); guarded by mu
	tick    time.Duration // idle sweep period, 0 when unknown; guarded by mu
	closing bool          // guarded by mu

	// Owned by run.
	spare []*pipe      // empty pipes to reuse
	again []*relayConn // connections whose turn ended with input left
	now   int64        // monotonic nanoseconds at the last wake-up
	batch []*relayConn // connections of the current events
	buf   []byte       // the first read of each burst lands here
}

func newLoop(r *relay) (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	// Level-triggered: it stays readable until run reads it.
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakefd)}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	// Non-blocking, so that os.NewFile registers it with Go's netpoller.
	if err := unix.SetNonblock(epfd, true); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("epoll non-blocking: %w", err)
	}
	lp := &loop{r: r, epfd: epfd, ep: os.NewFile(uintptr(epfd), "relay-epoll"), wakefd: wakefd, exited: make(chan struct{}),
		buf: make([]byte, readSize)}
	if err := lp.ep.SetReadDeadline(time.Time{}); err != nil { // fails if the netpoller did not take it
		_ = lp.ep.Close()
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("epoll descriptor not pollable: %w", err)
	}
	go lp.run()
	return lp, nil
}

// wake makes run look at mu's fields now. Called with mu held: run closes wakefd only
// after it has seen closing under mu, so the descriptor is still ours.
func (lp *loop) wake() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(lp.wakefd, one[:])
}

// add registers c's sockets. It runs on the forwarding goroutine; epoll_ctl
// is done under mu so that run never sees a connection half registered.
func (lp *loop) add(c *relayConn) {
	c.last = monotime()
	lp.mu.Lock()
	defer lp.mu.Unlock()
	if lp.closing {
		c.end(relayResult{reason: "closed"})
		return
	}
	if need := max(c.fd[0], c.fd[1]) + 1; need > len(lp.conns) {
		lp.conns = append(lp.conns, make([]*relayConn, max(need, 2*len(lp.conns))-len(lp.conns))...)
	}
	for i, fd := range c.fd {
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(fd)}
		if err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			if i == 1 {
				_ = unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_DEL, c.fd[0], nil)
			}
			c.end(relayResult{reason: "error: epoll_ctl: " + err.Error()})
			return
		}
	}
	// Registered; ADD reports readiness already there, so nothing is missed.
	lp.conns[c.fd[0]], lp.conns[c.fd[1]] = c, c
	if t := sweepTick(c.idle); lp.tick == 0 || t < lp.tick {
		lp.tick = t
		lp.wake() // the loop may be waiting with a longer timeout, or none
	}
}

func sweepTick(idle time.Duration) time.Duration {
	return min(max(idle/4, time.Millisecond), maxTick)
}

// run waits for events and serves them. The wait is not a blocking
// epoll_wait: that would hold an OS thread and, until sysmon takes it back,
// the thread's P (with GOMAXPROCS=1 everything else stalls each time, which
// measured as a third fewer round trips a second). Instead the epoll
// descriptor, itself pollable, waits in Go's netpoller like any socket, and
// epoll_wait is only called with a zero timeout, until it reports nothing.
// The idle sweep's period is a read deadline on it: one timer per loop.
func (lp *loop) run() {
	defer close(lp.exited)
	defer lp.recoverLoop()
	rc, err := lp.ep.SyscallConn()
	if err != nil {
		panic(fmt.Sprintf("egress relay: %v", err)) // an *os.File always has one
	}
	events := make([]unix.EpollEvent, 256)
	var n int
	var werr error
	poll := func(fd uintptr) bool {
		n, werr = rawsys.EpollPoll(int(fd), events)
		return n != 0 || werr != nil // on EINTR too: waiting now could miss events already there
	}
	lastSweep := monotime()
	var tick, deadlineTick time.Duration
	for {
		if tick != deadlineTick {
			var d time.Time // no sweep: no deadline
			if tick > 0 {
				d = time.Now().Add(time.Duration(lastSweep + int64(tick) - monotime()))
			}
			_ = lp.ep.SetReadDeadline(d)
			deadlineTick = tick
		}
		if len(lp.again) > 0 {
			poll(uintptr(lp.epfd)) // others' turns are due: do not wait
		} else if err := rc.Read(poll); err != nil {
			n, werr = 0, nil
			if !errors.Is(err, os.ErrDeadlineExceeded) {
				panic(fmt.Sprintf("egress relay: waiting for epoll: %v", err)) // closed or not pollable: a bug
			}
		}
		if werr != nil {
			if !errors.Is(werr, unix.EINTR) {
				panic(fmt.Sprintf("egress relay: epoll_wait: %v", werr)) // EBADF, EFAULT, EINVAL: a bug
			}
			n = 0
		}
		lp.now = monotime()

		lp.mu.Lock()
		lp.batch = lp.batch[:0]
		for _, ev := range events[:n] {
			var c *relayConn
			if int(ev.Fd) == lp.wakefd {
				// Read under mu, before closing and tick: a wake-up
				// written after this is for a change not yet seen,
				// and must stay pending.
				var buf [8]byte
				_, _ = unix.Read(lp.wakefd, buf[:])
			} else {
				c = lp.conns[ev.Fd]
			}
			lp.batch = append(lp.batch, c)
		}
		closing := lp.closing
		tick = lp.tick
		lp.mu.Unlock()
		if closing {
			lp.shutdown()
			return
		}

		for i, c := range lp.batch {
			ev := events[i]
			if c == nil || c.closed {
				continue
			}
			side := 0
			if int(ev.Fd) == c.fd[1] {
				side = 1
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				c.readable[side] = true
			}
			if ev.Events&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				c.hangup[side] = true
			}
			if ev.Events&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				c.writable[side] = true
			}
			lp.serveSafe(c)
		}
		clear(lp.batch)
		if len(lp.again) > 0 {
			again := lp.again
			lp.again = nil
			for _, c := range again {
				c.queued = false
				if !c.closed {
					lp.serveSafe(c)
				}
			}
		}
		if tick > 0 && lp.now-lastSweep >= int64(tick) {
			lastSweep = lp.now
			tick = lp.sweep()
			deadlineTick = -1 // the next deadline counts from this sweep
		}
	}
}

// sweep closes the connections idle for their idle timeout and returns the
// next sweep period: a quarter of the shortest idle timeout, at most a
// second; 0 when there is nothing to sweep. So a connection is closed
// between idle and idle plus a quarter after its last byte, and an idle
// loop wakes at most once a second.
func (lp *loop) sweep() time.Duration {
	var expired []*relayConn
	lp.mu.Lock()
	var tick time.Duration
	for fd, c := range lp.conns {
		if c == nil || c.fd[0] != fd {
			continue // free, or the connection's second descriptor
		}
		if lp.now-c.last >= int64(c.idle) {
			expired = append(expired, c)
			continue
		}
		if t := sweepTick(c.idle); tick == 0 || t < tick {
			tick = t
		}
	}
	lp.tick = tick
	lp.mu.Unlock()
	for _, c := range expired {
		lp.finishSafe(c, "idle_timeout")
	}
	return tick
}

// shutdown closes every connection and everything the loop owns.
func (lp *loop) shutdown() {
	var all []*relayConn
	lp.mu.Lock()
	for fd, c := range lp.conns {
		if c != nil && c.fd[0] == fd {
			all = append(all, c)
		}
	}
	lp.mu.Unlock()
	for _, c := range all {
		lp.finishSafe(c, "closed")
	}
	for _, p := range lp.spare {
		p.close()
	}
	lp.spare = nil
	_ = lp.ep.Close()
	_ = unix.Close(lp.wakefd)
}

// finish closes c and reports it.
func (lp *loop) finish(c *relayConn, reason string) {
	c.closed = true
	// Forget the descriptors before closing them: once closed, their
	// numbers may come back with a new connection. Closing the last
	// descriptor of a socket also drops it from the epoll set.
	lp.mu.Lock()
	lp.conns[c.fd[0]], lp.conns[c.fd[1]] = nil, nil
	lp.mu.Unlock()
	for d := range c.dir {
		lp.putPipe(&c.dir[d])
	}
	c.end(relayResult{sent: c.dir[0].total, received: c.dir[1].total, reason: reason})
}

// serveSafe serves c; a panic while doing so (a bug, or in c's done)
// ends c only, and the loop goes on with the others.
func (lp *loop) serveSafe(c *relayConn) {
	defer lp.survive(c)
	lp.serve(c)
}

// finishSafe finishes c; a panic in its done is survived as in serveSafe.
func (lp *loop) finishSafe(c *relayConn, reason string) {
	defer lp.survive(c)
	lp.finish(c, reason)
}

// survive, deferred, recovers from a panic while c was served: it is
// reported and c ended, unless it already was. A panic in ending it
// reaches run, whose recoverLoop ends them all.
func (lp *loop) survive(c *relayConn) {
	v := recover()
	if v == nil {
		return
	}
	lp.r.recovered("relay connection", v)
	if !c.closed {
		lp.finish(c, fmt.Sprintf("error: internal error: %v", v))
	}
}

// recoverLoop, deferred by run, recovers from a panic of the loop itself:
// it is reported, the loop's connections end ("error: internal error in
// the relay loop") and the loop serves no more; the relay gives later
// connections to its other loops, or to io.Copy once none is left.
func (lp *loop) recoverLoop() {
	v := recover()
	if v == nil {
		return
	}
	lp.broken.Store(true)
	lp.r.recovered("relay loop", v)
	lp.mu.Lock()
	lp.closing = true // add ends what comes now; nobody writes to wakefd any more
	var all []*relayConn
	for fd, c := range lp.conns {
		if c != nil && c.fd[0] == fd && !c.closed {
			all = append(all, c)
		}
	}
	clear(lp.conns)
	lp.mu.Unlock()
	for _, c := range all {
		lp.abandon(c)
	}
	for _, p := range lp.spare {
		p.close()
	}
	lp.spare = nil
	_ = lp.ep.Close()
	_ = unix.Close(lp.wakefd)
}

// abandon ends c of a failed loop; a panic in its done is reported, not raised.
func (lp *loop) abandon(c *relayConn) {
	defer func() {
		if v := recover(); v != nil {
			lp.r.recovered("relay connection", v)
		}
	}()
	c.closed = true
	for d := range c.dir {
		if p := c.dir[d].p; p != nil {
			p.close()
			lp.r.pipes.Add(-1)
		}
	}
	c.end(relayResult{sent: c.dir[0].total, received: c.dir[1].total, reason: "error: internal error in the relay loop"})
}

// serve moves what can be moved both ways.
func (lp *loop) serve(c *relayConn) {
	for d := range c.dir {
		if err := lp.pump(c, d); err != nil {
			lp.finish(c, "error: "+err.Error())
			return
		}
	}
	if c.dir[0].eof && c.dir[1].eof {
		lp.finish(c, "eof")
	}
}

// pump moves direction d (0: client to upstream, 1: upstream to client)
// until its source has nothing, its destination is full, or its turn ends.
//
// The first read of a burst is a read(2) into the loop's buffer, sent on
// with write(2): for the small messages of request and response traffic
// that is two system calls, and a read that comes back short proves the
// socket empty (bytes arriving later raise a new edge), which saves the
// read that would only say EAGAIN. A read that fills the buffer means bulk:
// the rest of the turn splices through a pipe, filled only when empty and
// emptied before the next read, so "empty" is known exactly and the pipe
// goes back to the pool as soon as the source has nothing more. A splice
// that comes back short proves nothing (the pipe may have run out of
// slots), so splicing reads on until EAGAIN.
func (lp *loop) pump(c *relayConn, d int) error {
	h := &c.dir[d]
	src, dst := d, 1-d
	bulk := false
	for rounds := 0; ; {
		if len(h.pending) > 0 || h.n > 0 {
			if !c.writable[dst] {
				return nil // back-pressure: keep what is buffered, wait for EPOLLOUT
			}
			n, err := h.flush(c.fd[dst])
			switch {
			case errors.Is(err, unix.EAGAIN):
				c.writable[dst] = false
				return nil
			case errors.Is(err, unix.EINTR):
				continue
			case err != nil:
				return fmt.Errorf("write %s: %w", sideName[dst], err)
			}
			h.total += n
			c.last = lp.now
			continue
		}
		if h.eof || !c.readable[src] {
			lp.putPipe(h)
			return nil
		}
		if rounds == turn {
			lp.putPipe(h)
			if !c.queued {
				c.queued = true
				lp.again = append(lp.again, c)
			}
			return nil
		}
		var n int
		var err error
		if bulk {
			if h.p == nil {
				p, err := lp.getPipe()
				if err != nil {
					return err
				}
				h.p = p
			}
			var m int64
			m, err = rawsys.Splice(c.fd[src], h.p.w, pipeSize, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
			n = int(m)
		} else {
			n, err = rawsys.Read(c.fd[src], lp.buf)
		}
		switch {
		case errors.Is(err, unix.EAGAIN):
			c.readable[src] = false
			continue
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("read %s: %w", sideName[src], err)
		case n == 0:
			// EOF with nothing buffered: pass the half-close on.
			h.eof = true
			_ = unix.Shutdown(c.fd[dst], unix.SHUT_WR)
			continue
		}
		rounds++
		if bulk {
			h.n = n
			continue
		}
		if n < len(lp.buf) && !c.hangup[src] {
			// Short: the socket is empty now. Not after a hang-up
			// signal, whose end of stream must still be read.
			c.readable[src] = false
		}
		bulk = n == len(lp.buf)
		h.pending = lp.buf[:n] // sent from the loop's buffer right away; copied below if it must wait
		if c.writable[dst] {
			w, err := rawsys.Write(c.fd[dst], h.pending)
			switch {
			case errors.Is(err, unix.EAGAIN):
				c.writable[dst] = false
			case errors.Is(err, unix.EINTR):
			case err != nil:
				return fmt.Errorf("write %s: %w", sideName[dst], err)
			default:
				h.total += int64(w)
				c.last = lp.now
				h.pending = h.pending[w:]
			}
		}
		if len(h.pending) == 0 {
			h.pending = nil
		} else {
			h.pending = append([]byte(nil), h.pending...) // the loop's buffer is reused by the next read
		}
	}
}

// flush writes what h holds to fd: the bytes a read left pending, or else
// the pipe's.
func (h *direction) flush(fd int) (int64, error) {
	if len(h.pending) > 0 {
		n, err := rawsys.Write(fd, h.pending)
		if err != nil {
			return 0, err
		}
		if h.pending = h.pending[n:]; len(h.pending) == 0 {
			h.pending = nil
		}
		return int64(n), nil
	}
	n, err := rawsys.Splice(h.p.r, fd, h.n, unix.SPLICE_F_NONBLOCK|unix.SPLICE_F_MOVE)
	if err != nil {
		return 0, err
	}
	h.n -= int(n)
	return n, nil
}

// pipe is a kernel pipe splice moves bytes through.
type pipe struct{ r, w int }

func (p *pipe) close() {
	_ = unix.Close(p.r)
	_ = unix.Close(p.w)
}

func (lp *loop) getPipe() (*pipe, error) {
	lp.r.pipes.Add(1)
	if n := len(lp.spare); n > 0 {
		p := lp.spare[n-1]
		lp.spare = lp.spare[:n-1]
		return p, nil
	}
	var fds [2]int
	if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		lp.r.pipes.Add(-1)
		return nil, fmt.Errorf("pipe: %w", err)
	}
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize) // best effort: the default works too
	return &pipe{r: fds[0], w: fds[1]}, nil
}

// putPipe takes h's pipe back: to the pool if empty, closed if not (a
// direction ended with bytes in it).
func (lp *loop) putPipe(h *direction) {
	if h.p == nil {
		return
	}
	lp.r.pipes.Add(-1)
	if h.n == 0 && len(lp.spare) < sparePipes {
		lp.spare = append(lp.spare, h.p)
	} else {
		h.p.close()
	}
	h.p, h.n = nil, 0
}
