package dnsproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/miekg/dns"

	"github.com/egressgw/egressgw/internal/pollyield"
	"github.com/egressgw/egressgw/internal/reuseport"
)

// Server serves a dns.Handler at one address: on UDP with a read loop of
// its own (udpserve.go), on TCP with miekg's dns.Server. Start it once;
// Shutdown it once.
type Server struct {
	addr     string
	h        dns.Handler
	udp      *net.UDPConn       // set by Start
	tcp      *dns.Server        // set by Start
	yield    *pollyield.Yielder // the UDP loop's, set by Start
	errc     chan error         // the TCP server's result
	inflight sync.WaitGroup     // UDP queries answered on goroutines of their own

	// Stdlib, if set before Start, serves UDP with miekg's dns.Server
	// too, instead of the read loop of egressgw's own (--fast-paths=false).
	Stdlib bool
	udpSrv *dns.Server // with Stdlib: serves udp; set by Start

	// ReusePort, if set before Start, sets SO_REUSEPORT on the UDP and TCP
	// sockets (Linux), so that another server (a rolling update's new
	// gateway) can listen beside this one.
	ReusePort bool

	// OnPanic, if set before Start, is told of each panic the server
	// recovered from while answering a query (a bug: that query goes
	// unanswered, the server serves on), with the stack.
	OnPanic func(v any, stack []byte)
}

// NewServer returns a Server for h on addr ("host:port"). Port 0 picks a
// free port, the same one for UDP and TCP.
func NewServer(addr string, h dns.Handler) *Server {
	return &Server{addr: addr, h: h}
}

// Start binds UDP and TCP on the address and returns once both are serving.
// Errors name the address.
func (s *Server) Start() error {
	pc, ln, err := listen(s.addr, s.ReusePort)
	if err != nil {
		return fmt.Errorf("dns server %s: %w", s.addr, err)
	}
	s.udp = pc.(*net.UDPConn)
	var raw *rawUDP
	var y *pollyield.Yielder
	if !s.Stdlib {
		raw, err = rawUDPOf(s.udp)
		if err == nil {
			y, err = pollyield.New()
		}
	}
	if err != nil {
		_ = pc.Close()
		_ = ln.Close()
		return fmt.Errorf("dns server %s: %w", s.addr, err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		defer s.survive()
		s.h.ServeDNS(w, r)
	})
	s.errc = make(chan error, 2)
	started := make(chan struct{}, 2)
	servers := []*dns.Server{{Listener: ln, Handler: h, NotifyStartedFunc: func() { started <- struct{}{} }}}
	if s.Stdlib {
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: h, UDPSize: dns.MaxMsgSize, // read a query whole, as the loop does
			NotifyStartedFunc: func() { started <- struct{}{} }})
	}
	for _, srv := range servers {
		go func() { s.errc <- srv.ActivateAndServe() }()
	}
	for range servers {
		select {
		case <-started:
		case err := <-s.errc:
			// ActivateAndServe failed before serving: close what runs.
			_ = pc.Close()
			_ = ln.Close()
			if y != nil {
				_ = y.Close()
			}
			return fmt.Errorf("dns server %s: %w", s.addr, err)
		}
	}
	s.tcp = servers[0]
	if s.Stdlib {
		s.udpSrv = servers[1]
		return nil
	}
	s.yield = y
	go s.serveUDP(s.udp, raw, y) // the socket is bound: queries queue until the loop reads them
	return nil
}

// survive, deferred where a query is answered, recovers from a panic
// there: the query goes unanswered, OnPanic is told, and the server serves
// on (an unrecovered panic on any goroutine would end the process).
func (s *Server) survive() {
	v := recover()
	if v == nil {
		return
	}
	if s.OnPanic != nil {
		s.OnPanic(v, debug.Stack())
	}
}

// Addr is the bound address ("ip:port", the same for UDP and TCP) once
// Start has succeeded, else the configured one.
func (s *Server) Addr() string {
	if s.tcp == nil {
		return s.addr
	}
	return s.tcp.Listener.Addr().String()
}

// Shutdown stops both listeners and waits, until ctx is done, for the
// queries in progress to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.udp == nil {
		return nil
	}
	if s.udpSrv == nil {
		_ = s.udp.Close() // the read loop's: it ends
	}
	done := make(chan struct{})
	go func() {
		s.inflight.Wait()
		close(done)
	}()
	err := s.tcp.ShutdownContext(ctx)
	if s.udpSrv != nil {
		err = errors.Join(err, s.udpSrv.ShutdownContext(ctx))
	}
	select {
	case <-done:
	case <-ctx.Done():
		err = errors.Join(err, fmt.Errorf("UDP queries still in progress: %w", ctx.Err()))
	}
	if err != nil {
		return fmt.Errorf("dns server %s: shutdown: %w", s.Addr(), err)
	}
	return nil
}

// listen binds UDP then TCP on addr. With port 0 the TCP listener takes the
// port the kernel gave the UDP socket, retrying a few times if TCP has it.
func listen(addr string, reusePort bool) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lc net.ListenConfig
	if reusePort {
		lc.Control = reuseport.Control
	}
	ctx := context.Background()
	for try := 0; ; try++ {
		pc, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, err
		}
		tcpAddr := addr
		if port == "0" {
			tcpAddr = net.JoinHostPort(host, strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
		}
		ln, err := lc.Listen(ctx, "tcp", tcpAddr)
		if err == nil {
			return pc, ln, nil
		}
		_ = pc.Close()
		if port != "0" || try == 10 {
			return nil, nil, err
		}
	}
}
