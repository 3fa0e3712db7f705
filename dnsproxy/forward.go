package dnsproxy

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	"github.com/miekg/dns"
	"go.uber.org/zap"
)

// forwarder exchanges messages with the upstream resolver. It is immutable
// but for its pool of sockets, and safe for concurrent use.
type forwarder struct {
	upstream string
	timeout  time.Duration // for a whole exchange, TCP retry included
	udp      udpConns
	tcp      *dns.Client
	metrics  *Metrics
}

func newForwarder(upstream string, timeout time.Duration, m *Metrics) *forwarder {
	if _, _, err := net.SplitHostPort(upstream); err != nil {
		upstream = net.JoinHostPort(upstream, "53")
	}
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	return &forwarder{
		upstream: upstream,
		timeout:  timeout,
		udp:      udpConns{addr: upstream},
		tcp:      &dns.Client{Net: "tcp", Timeout: timeout},
		metrics:  m,
	}
}

// deadline is when an exchange starting now must be over.
func (f *forwarder) deadline(ctx context.Context) time.Time {
	d := time.Now().Add(f.timeout)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		return cd
	}
	return d
}

// exchange sends m upstream under a fresh random ID and returns the reply
// with m's ID. Over TCP if tcp, else over UDP, retried over TCP when the
// reply is truncated. m is not modified, except that packing it may reset
// the extended rcode bits of its OPT record.
func (f *forwarder) exchange(ctx context.Context, m *dns.Msg, tcp bool) (*dns.Msg, error) {
	deadline := f.deadline(ctx)
	if !tcp {
		qbuf, rbuf := getBuffer(), getBuffer()
		defer putBuffer(qbuf)
		defer putBuffer(rbuf)
		reply, err := f.exchangeUDP(ctx, deadline, m, *qbuf, *rbuf)
		if err != nil {
			return nil, err
		}
		if msgFlags(reply)&flagTC == 0 {
			resp := new(dns.Msg)
			if err := resp.Unpack(reply); err != nil {
				return nil, err
			}
			return resp, nil
		}
		// A truncated reply may not even unpack: the TCP one will.
	}
	return f.exchangeTCP(ctx, deadline, m)
}

var (
	errOtherQuestion = errors.New("reply to another question")
	errBadQuery      = errors.New("query has no question")
	errLongAgo       = time.Unix(1, 0) // a deadline that has passed
)

// exchangeUDP packs m into qbuf under a fresh random ID, sends it upstream
// on a pooled socket, and returns the reply, read into rbuf, in wire
// format with m's ID. Datagrams that are not the reply (stale or stray:
// another ID, or another question) are dropped while waiting for it.
func (f *forwarder) exchangeUDP(ctx context.Context, deadline time.Time, m *dns.Msg, qbuf, rbuf []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	query, err := m.PackBuffer(qbuf)
	if err != nil {
		return nil, err
	}
	qend, ok := questionEnd(query)
	if !ok {
		return nil, errBadQuery
	}
	setMsgID(query, randomID())

	c, err := f.udp.get()
	if err != nil {
		return nil, err
	}
	stop := func() bool { return true }
	if ctx.Done() != nil { // never for the Handler's and the Resolver's contexts
		stop = context.AfterFunc(ctx, func() { _ = c.SetDeadline(errLongAgo) })
	}
	start := time.Now()
	n, err := roundTrip(c, deadline, query, qend, rbuf)
	f.metrics.observeUpstream(false, time.Since(start))
	// Once the cancellation has fired, its deadline could land on the
	// socket's next exchange: such a socket is not reused.
	f.udp.put(c, stop() && err == nil)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			err = ctxErr
		}
		return nil, err
	}
	reply := rbuf[:n]
	setMsgID(reply, m.Id)
	return reply, nil
}

// roundTrip writes query to c and reads into buf until the reply to it
// comes, or the deadline passes, and returns the reply's length.
func roundTrip(c net.Conn, deadline time.Time, query []byte, qend int, buf []byte) (int, error) {
	if err := c.SetDeadline(deadline); err != nil {
		return 0, err
	}
	if _, err := c.Write(query); err != nil {
		return 0, err
	}
	otherQuestion := false
	for {
		n, err := c.Read(buf)
		if err != nil {
			var ne net.Error
			if otherQuestion && errors.As(err, &ne) && ne.Timeout() {
				return 0, errOtherQuestion
			}
			return 0, err
		}
		switch matchReply(buf[:n], query, qend) {
		case replyMatches:
			return n, nil
		case replyOtherQuestion:
			// Not trusted even with our ID: wait on for the real reply,
			// and say why if none comes.
			otherQuestion = true
		}
	}
}

// exchangeTCP is exchange over TCP, to finish by deadline.
func (f *forwarder) exchangeTCP(ctx context.Context, deadline time.Time, m *dns.Msg) (*dns.Msg, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	q := *m // shallow: packing only reads the sections
	q.Id = randomID()
	resp, rtt, err := f.tcp.ExchangeContext(ctx, &q, f.upstream)
	f.metrics.observeUpstream(true, rtt)
	if err != nil {
		return nil, err
	}
	if !sameQuestion(resp, &q) {
		return nil, errOtherQuestion
	}
	resp.Id = m.Id
	return resp, nil
}

// sameQuestion reports whether reply answers req's question. A reply
// without a question (FORMERR, some REFUSED) is let through.
func sameQuestion(reply, req *dns.Msg) bool {
	if len(reply.Question) == 0 {
		return true
	}
	if len(reply.Question) != len(req.Question) {
		return false
	}
	a, b := reply.Question[0], req.Question[0]
	return a.Qtype == b.Qtype && a.Qclass == b.Qclass && strings.EqualFold(a.Name, b.Name)
}

// forward relays r to the upstream as the client sent it (EDNS0 included),
// over the client's transport, and the reply back, truncated to what a UDP
// client can take. Upstream failure is SERVFAIL with the Extended DNS
// Error "Network Error".
func (h *Handler) forward(w dns.ResponseWriter, r *dns.Msg, q *dns.Question) {
	if overTCP(w) {
		resp, err := h.fwd.exchange(context.Background(), r, true)
		if err != nil {
			h.upstreamFailed(w, r, q, err)
			return
		}
		resp.Compress = true
		h.write(w, resp)
		h.forwarded(w, q, resp.Rcode)
		return
	}

	size := dns.MinMsgSize
	if opt := r.IsEdns0(); opt != nil {
		size = max(size, int(opt.UDPSize()))
	}
	ctx := context.Background()
	deadline := h.fwd.deadline(ctx)
	qbuf := smallBuffers.Get().(*[smallBufferLen]byte) // a longer query is packed into a buffer of its own
	defer smallBuffers.Put(qbuf)
	var rbuf []byte // a reply that fills it may have been cut
	if size < replyBufferLen {
		b := replyBuffers.Get().(*[replyBufferLen]byte)
		defer replyBuffers.Put(b)
		rbuf = b[:]
	} else {
		b := getBuffer()
		defer putBuffer(b)
		rbuf = *b
	}
	reply, err := h.fwd.exchangeUDP(ctx, deadline, r, qbuf[:], rbuf)
	if err != nil {
		h.upstreamFailed(w, r, q, err)
		return
	}
	if msgFlags(reply)&flagTC == 0 && len(reply) <= size {
		// The common case: the upstream's reply as it came, but for the ID.
		if _, err := w.Write(reply); err != nil {
			h.notSent(w, err)
		}
		h.forwarded(w, q, int(msgFlags(reply)&0xF))
		return
	}

	// Truncated, or more than the client can take (an upstream may ignore
	// the size the client advertised): the whole answer, over TCP if need
	// be (or if it filled the buffer: then it may have been cut), cut to
	// the client's size.
	var resp *dns.Msg
	if msgFlags(reply)&flagTC != 0 || len(reply) == len(rbuf) {
		resp, err = h.fwd.exchangeTCP(ctx, deadline, r)
	} else {
		resp = new(dns.Msg)
		err = resp.Unpack(reply)
	}
	if err != nil {
		h.upstreamFailed(w, r, q, err)
		return
	}
	resp.Truncate(size)
	h.write(w, resp)
	h.forwarded(w, q, resp.Rcode)
}

func (h *Handler) forwarded(w dns.ResponseWriter, q *dns.Question, rcode int) {
	h.metrics.count(outcomeForwarded)
	if ce := h.log.Check(zap.DebugLevel, "dns query forwarded"); ce != nil {
		ce.Write(zap.String("name", q.Name), zap.Stringer("qtype", dns.Type(q.Qtype)),
			zap.Stringer("client", remote(w)), zap.String("rcode", dns.RcodeToString[rcode]))
	}
}

func (h *Handler) upstreamFailed(w dns.ResponseWriter, r *dns.Msg, q *dns.Question, err error) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	setEDE(m, r, dns.ExtendedErrorCodeNetworkError, "upstream "+h.fwd.upstream+": "+err.Error())
	h.write(w, m)
	h.metrics.count(outcomeUpstreamError)
	h.log.Warn("dns upstream failed", zap.String("name", displayName(q.Name)),
		zap.Stringer("qtype", dns.Type(q.Qtype)), zap.Stringer("client", remote(w)),
		zap.String("upstream", h.fwd.upstream), zap.Error(err))
}

// overLimit answers a query to forward that is over a bound of forwarded
// queries in flight: SERVFAIL, with the Extended DNS Error "Other" whose
// text names the bound and its flag. There is no EDE code for a limit
// (RFC 8914's "Not Ready" means a server still starting).
func (h *Handler) overLimit(w dns.ResponseWriter, r *dns.Msg, q *dns.Question, over overLimit) {
	m := new(dns.Msg)
	m.SetRcode(r, dns.RcodeServerFailure)
	m.RecursionAvailable = true
	setEDE(m, r, dns.ExtendedErrorCodeOther, h.limited[over])
	h.write(w, m)
	h.metrics.limited(over)
	if ce := h.log.Check(zap.DebugLevel, "dns query over the forwarding limit"); ce != nil {
		ce.Write(zap.String("name", q.Name), zap.Stringer("qtype", dns.Type(q.Qtype)),
			zap.Stringer("client", remote(w)), zap.String("limit", h.limited[over]))
	}
}
