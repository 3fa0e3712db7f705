package dnsproxy

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/miekg/dns"

	"github.com/egressgw/egressgw/internal/pollyield"
)

// yieldAfter is how many datagrams in a row the UDP read loop reads
// without waiting before it yields to the poller.
const yieldAfter = 32

// splitHandler is a dns.Handler that answers what it can at once (on the
// read loop, with no goroutine) and returns, for the rest (forwarding),
// the work to finish on a goroutine of its own; nil when it is done.
type splitHandler interface {
	serveSplit(w dns.ResponseWriter, r *dns.Msg) func()
}

// serveUDP reads queries until the socket is closed. Unlike miekg's
// server, which starts a goroutine for every datagram, it answers
// intercepted and refused names on the loop itself and starts goroutines
// only for queries that wait on the upstream. With one CPU that is the
// difference between forwarded queries queueing behind every local answer
// and being served in arrival order. After yieldAfter datagrams read
// without a wait it yields to the poller (see package pollyield), so that
// forwarded queries' goroutines see their upstream's answers promptly.
// Messages are accepted, rejected or ignored as miekg's
// DefaultMsgAcceptFunc says, and answered as miekg does. It closes y when
// it returns.
func (s *Server) serveUDP(pc *net.UDPConn, raw *rawUDP, y *pollyield.Yielder) {
	defer y.Close()
	split, _ := s.h.(splitHandler)
	buf := make([]byte, dns.MaxMsgSize)
	local := pc.LocalAddr()
	var backoff time.Duration
	for {
		if raw.streak >= yieldAfter {
			raw.streak = 0
			y.Yield()
		}
		size, from, err := raw.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Anything else (ENOBUFS, ENOMEM) is the kernel's passing
			// trouble: keep serving, without spinning on it.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.serveDatagram(split, &udpWriter{raw: raw, to: from, local: local}, buf[:size])
	}
}

// serveDatagram answers the query in b, here or on a goroutine of its own;
// a panic answering it is survived (the loop serves every client).
func (s *Server) serveDatagram(split splitHandler, w *udpWriter, b []byte) {
	defer s.survive()
	req := acceptUDP(w, b)
	if req == nil {
		return
	}
	if split == nil {
		s.async(func() { s.h.ServeDNS(w, req) })
	} else if rest := split.serveSplit(w, req); rest != nil {
		s.async(rest)
	}
}

// async runs f on a goroutine that Shutdown waits for.
func (s *Server) async(f func()) {
	s.inflight.Add(1)
	go func() {
		defer s.inflight.Done()
		defer s.survive()
		f()
	}()
}

// acceptUDP returns the query in b, or nil when it was refused (answered
// FORMERR or NOTIMP) or dropped (too short to have a header, or a response).
func acceptUDP(w *udpWriter, b []byte) *dns.Msg {
	if len(b) < 12 {
		return nil // any reply could be used to amplify
	}
	dh := dns.Header{
		Id: binary.BigEndian.Uint16(b), Bits: binary.BigEndian.Uint16(b[2:]),
		Qdcount: binary.BigEndian.Uint16(b[4:]), Ancount: binary.BigEndian.Uint16(b[6:]),
		Nscount: binary.BigEndian.Uint16(b[8:]), Arcount: binary.BigEndian.Uint16(b[10:]),
	}
	req := new(dns.Msg)
	action := dns.DefaultMsgAcceptFunc(dh)
	switch action {
	case dns.MsgIgnore:
		return nil
	case dns.MsgAccept:
		if req.Unpack(b) == nil {
			return req
		}
	default:
		req.Id = dh.Id
		req.Opcode = int(dh.Bits>>11) & 0xF
		req.RecursionDesired = dh.Bits&(1<<8) != 0
		req.CheckingDisabled = dh.Bits&(1<<4) != 0
	}
	opcode := req.Opcode
	req.SetRcodeFormatError(req)
	req.Zero = false
	if action == dns.MsgRejectNotImplemented {
		req.Opcode, req.Rcode = opcode, dns.RcodeNotImplemented
	}
	req.Ns, req.Answer, req.Extra = nil, nil, nil
	_ = w.WriteMsg(req)
	return nil
}

// udpWriter answers one UDP query.
type udpWriter struct {
	raw   *rawUDP
	to    netip.AddrPort
	local net.Addr
}

func (w *udpWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

func (w *udpWriter) Write(b []byte) (int, error) {
	if err := w.raw.WriteTo(b, w.to); err != nil {
		return 0, err
	}
	return len(b), nil
}
func (w *udpWriter) LocalAddr() net.Addr  { return w.local }
func (w *udpWriter) RemoteAddr() net.Addr { return net.UDPAddrFromAddrPort(w.to) }
func (w *udpWriter) Close() error         { return nil }
func (w *udpWriter) TsigStatus() error    { return nil }
func (w *udpWriter) TsigTimersOnly(bool)  {}
func (w *udpWriter) Hijack()              {}
