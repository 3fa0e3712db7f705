package dnsproxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func forwardingHandler(upstream string) *Handler {
	return NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: upstream, BlockUnregistered: true})
}

func TestForwardKeepsEDNS0(t *testing.T) {
	up := startUpstream(t)
	h := forwardingHandler(up.addr)
	req := query("svc.ns.svc.cluster.local", dns.TypeA, 3000)
	req.IsEdns0().SetDo()
	w := &recorder{}
	h.ServeDNS(w, req)
	got := w.reply(t)

	seen := up.queries()
	if len(seen) != 1 {
		t.Fatalf("upstream saw %d queries, want 1", len(seen))
	}
	if s := seen[0]; !s.edns || s.udpSize != 3000 || s.tcp || s.name != "svc.ns.svc.cluster.local." {
		t.Errorf("upstream saw %+v, want the client's OPT (udp size 3000) over UDP", s)
	}
	if got.Id != req.Id {
		t.Errorf("reply id %d, want the client's %d", got.Id, req.Id)
	}
	if got.IsEdns0() == nil {
		t.Errorf("reply lost the upstream's OPT")
	}
}

func TestForwardTruncatedRetriesOverTCP(t *testing.T) {
	up := startUpstream(t)
	h := forwardingHandler(up.addr)

	// The upstream truncates UDP at 512 bytes; the client can take 4096.
	req := query("big.svc.cluster.local", dns.TypeA, 4096)
	w := &recorder{}
	h.ServeDNS(w, req)
	got := w.reply(t)
	if got.Truncated || len(got.Answer) != 60 {
		t.Errorf("truncated %v with %d answers, want the full 60 from the TCP retry", got.Truncated, len(got.Answer))
	}
	if len(w.packed[0]) > 4096 {
		t.Errorf("reply is %d bytes, more than the client's 4096", len(w.packed[0]))
	}
	seen := up.queries()
	if len(seen) != 2 || seen[0].tcp || !seen[1].tcp {
		t.Errorf("upstream saw %+v, want UDP then TCP", seen)
	}
	if got.Id != req.Id {
		t.Errorf("reply id %d, want %d", got.Id, req.Id)
	}

	// A client without EDNS0 gets what fits in 512 bytes, with TC set.
	w = &recorder{}
	h.ServeDNS(w, query("big.svc.cluster.local", dns.TypeA, 0))
	got = w.reply(t)
	if !got.Truncated || len(w.packed[0]) > dns.MinMsgSize {
		t.Errorf("truncated %v, %d bytes; want TC within 512 bytes", got.Truncated, len(w.packed[0]))
	}
}

func TestForwardTCPClientUsesTCP(t *testing.T) {
	up := startUpstream(t)
	h := forwardingHandler(up.addr)
	w := &recorder{tcp: true}
	h.ServeDNS(w, query("big.svc.cluster.local", dns.TypeA, 0))
	got := w.reply(t)
	if got.Truncated || len(got.Answer) != 60 {
		t.Errorf("truncated %v with %d answers, want all 60 over TCP", got.Truncated, len(got.Answer))
	}
	if seen := up.queries(); len(seen) != 1 || !seen[0].tcp {
		t.Errorf("upstream saw %+v, want one TCP query", seen)
	}
}

func TestForwardUpstreamDown(t *testing.T) {
	dead := deadUpstream(t)
	core, logs := observer.New(zapcore.InfoLevel)
	metrics := NewMetrics(prometheus.NewRegistry())
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: dead,
		Timeout: 500 * time.Millisecond, Log: zap.New(core), Metrics: metrics})

	for _, tcp := range []bool{false, true} {
		w := &recorder{tcp: tcp}
		req := query("example.net", dns.TypeA, 1232)
		h.ServeDNS(w, req)
		got := w.reply(t)
		if got.Rcode != dns.RcodeServerFailure || got.Id != req.Id {
			t.Errorf("tcp=%v: rcode %s id %d, want SERVFAIL id %d", tcp, dns.RcodeToString[got.Rcode], got.Id, req.Id)
		}
		e, ok := ede(got)
		if !ok || e.InfoCode != dns.ExtendedErrorCodeNetworkError || !strings.HasPrefix(e.ExtraText, "upstream "+dead+": ") ||
			len(e.ExtraText) == len("upstream "+dead+": ") {
			t.Errorf("tcp=%v: EDE %+v, want code 23 naming upstream %s and the error", tcp, e, dead)
		}
	}

	// No OPT from the client, none in the reply.
	w := &recorder{}
	h.ServeDNS(w, query("example.net", dns.TypeA, 0))
	if got := w.reply(t); got.Rcode != dns.RcodeServerFailure || got.IsEdns0() != nil {
		t.Errorf("rcode %s OPT %v, want SERVFAIL without OPT", dns.RcodeToString[got.Rcode], got.IsEdns0())
	}

	if got := counterValue(t, metrics.queries[outcomeUpstreamError]); got != 3 {
		t.Errorf("upstream_error count %v, want 3", got)
	}
	if n := logs.FilterMessage("dns upstream failed").FilterField(zap.String("upstream", dead)).Len(); n != 3 {
		t.Errorf("got %d upstream failure log lines, want 3", n)
	}
}

func TestForwardRejectsReplyToAnotherQuestion(t *testing.T) {
	liar := NewServer("127.0.0.1:0", dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Question[0].Name = "api.example.com."
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: "api.example.com.", Rrtype: dns.TypeA,
			Class: dns.ClassINET, Ttl: 60}, A: []byte{203, 0, 113, 9}})
		_ = w.WriteMsg(m)
	}))
	if err := liar.Start(); err != nil {
		t.Fatal(err)
	}
	defer liar.Shutdown(context.Background())

	w := &recorder{}
	NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: liar.Addr()}).
		ServeDNS(w, query("other.example.net", dns.TypeA, 1232))
	got := w.reply(t)
	if e, ok := ede(got); got.Rcode != dns.RcodeServerFailure || len(got.Answer) != 0 || !ok || !strings.Contains(e.ExtraText, errOtherQuestion.Error()) {
		t.Errorf("rcode %s answers %v EDE %v, want SERVFAIL naming %q", dns.RcodeToString[got.Rcode], got.Answer, e, errOtherQuestion)
	}
}
