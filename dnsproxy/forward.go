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
// and safe for concurrent use.
type forwarder struct {
	upstream string
	timeout  time.Duration // for a whole exchange, TCP retry included
	udp, tcp *dns.Client
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
		udp:      &dns.Client{Net: "udp", Timeout: timeout},
		tcp:      &dns.Client{Net: "tcp", Timeout: timeout},
		metrics:  m,
	}
}

// exchange sends m upstream under a fresh random ID and returns the reply
// with m's ID. Over TCP if tcp, else over UDP, retried over TCP when the
// reply is truncated. m is not modified, except that packing it may reset
// the extended rcode bits of its OPT record.
func (f *forwarder) exchange(ctx context.Context, m *dns.Msg, tcp bool) (*dns.Msg, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	q := *m // shallow: packing only reads the sections
	q.Id = dns.Id()
	if !tcp {
		resp, err := f.once(ctx, &q, false)
		switch {
		case err == nil && !resp.Truncated:
			resp.Id = m.Id
			return resp, nil
		case err != nil && (resp == nil || !resp.Truncated):
			// A truncated reply may fail to unpack in full: retry it.
			return nil, err
		}
	}
	resp, err := f.once(ctx, &q, true)
	if err != nil {
		return nil, err
	}
	resp.Id = m.Id
	return resp, nil
}

var errOtherQuestion = errors.New("reply to another question")

func (f *forwarder) once(ctx context.Context, m *dns.Msg, tcp bool) (*dns.Msg, error) {
	c := f.udp
	if tcp {
		c = f.tcp
	}
	resp, rtt, err := c.ExchangeContext(ctx, m, f.upstream)
	f.metrics.observeUpstream(tcp, rtt)
	if err == nil && !sameQuestion(resp, m) {
		return nil, errOtherQuestion
	}
	return resp, err
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
	tcp := overTCP(w)
	resp, err := h.fwd.exchange(context.Background(), r, tcp)
	if err != nil {
		h.upstreamFailed(w, r, q, err)
		return
	}
	if tcp {
		resp.Compress = true
	} else {
		size := dns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil {
			size = int(opt.UDPSize())
		}
		resp.Truncate(size)
	}
	h.write(w, resp)
	h.metrics.count(outcomeForwarded)
	if ce := h.log.Check(zap.DebugLevel, "dns query forwarded"); ce != nil {
		ce.Write(zap.String("name", q.Name), zap.Stringer("qtype", dns.Type(q.Qtype)),
			zap.Stringer("client", remote(w)), zap.String("rcode", dns.RcodeToString[resp.Rcode]))
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
