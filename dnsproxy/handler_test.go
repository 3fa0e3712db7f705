package dnsproxy

import (
	"net"
	"net/netip"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestServeDNS(t *testing.T) {
	up := startUpstream(t)
	const blockText = "egressgw: unregistered.example.net is not registered (outboundTrafficPolicy REGISTRY_ONLY)"

	tests := []struct {
		name     string
		egress   string // default egress4
		allowAny bool
		qname    string
		qtype    uint16
		udpSize  uint16 // 0: no OPT
		rcode    int
		answer   string // the one A/AAAA address wanted, "" for none
		auth     bool
		upstream bool // the query must reach the upstream
		edeCode  int  // -1: no EDE
		edeText  string
	}{
		{name: "exact A", qname: "api.example.com", qtype: dns.TypeA, answer: "10.96.0.10", auth: true, edeCode: -1},
		{name: "exact A mixed case", qname: "API.Example.COM", qtype: dns.TypeA, answer: "10.96.0.10", auth: true, edeCode: -1},
		{name: "exact A with EDNS0", qname: "api.example.com", qtype: dns.TypeA, udpSize: 1232, answer: "10.96.0.10", auth: true, edeCode: -1},
		{name: "exact AAAA with IPv4 egress is NODATA", qname: "api.example.com", qtype: dns.TypeAAAA, auth: true, edeCode: -1},
		{name: "exact HTTPS is NODATA", qname: "api.example.com", qtype: dns.TypeHTTPS, auth: true, edeCode: -1},
		{name: "exact SVCB is NODATA", qname: "api.example.com", qtype: dns.TypeSVCB, auth: true, edeCode: -1},
		{name: "exact MX is NODATA", qname: "api.example.com", qtype: dns.TypeMX, auth: true, edeCode: -1},
		{name: "wildcard A", qname: "a.b.wild.example.org", qtype: dns.TypeA, answer: "10.96.0.10", auth: true, edeCode: -1},
		{name: "wildcard AAAA is NODATA", qname: "x.wild.example.org", qtype: dns.TypeAAAA, auth: true, edeCode: -1},
		{name: "wildcard HTTPS is NODATA", qname: "x.wild.example.org", qtype: dns.TypeHTTPS, auth: true, edeCode: -1},
		{name: "IPv6 egress AAAA", egress: "fd00::10", qname: "api.example.com", qtype: dns.TypeAAAA, answer: "fd00::10", auth: true, edeCode: -1},
		{name: "IPv6 egress A is NODATA", egress: "fd00::10", qname: "api.example.com", qtype: dns.TypeA, auth: true, edeCode: -1},
		{name: "ExternalName service intercepted", qname: "ext.default.svc.cluster.local", qtype: dns.TypeA, answer: "10.96.0.10", auth: true, edeCode: -1},
		{name: "allow any intercepts too", allowAny: true, qname: "api.example.com", qtype: dns.TypeA, answer: "10.96.0.10", auth: true, edeCode: -1},

		{name: "cluster domain forwarded", qname: "kubernetes.default.svc.cluster.local", qtype: dns.TypeA, answer: "192.0.2.1", upstream: true, edeCode: -1},
		{name: "cluster domain itself forwarded", qname: "cluster.local", qtype: dns.TypeA, answer: "192.0.2.1", upstream: true, edeCode: -1},
		{name: "search list expansion forwarded", qname: "api.example.net.default.svc.cluster.local", qtype: dns.TypeA, answer: "192.0.2.1", upstream: true, edeCode: -1},
		{name: "reverse v4 forwarded", qname: "1.2.0.192.in-addr.arpa", qtype: dns.TypePTR, upstream: true, edeCode: -1},
		{name: "reverse v6 forwarded", qname: "1.0.0.0.ip6.arpa", qtype: dns.TypePTR, upstream: true, edeCode: -1},
		{name: "allow any forwards unregistered", allowAny: true, qname: "unregistered.example.net", qtype: dns.TypeA, answer: "192.0.2.1", upstream: true, edeCode: -1},
		{name: "allow any forwards rcode", allowAny: true, qname: "nx.example.net", qtype: dns.TypeA, rcode: dns.RcodeNameError, upstream: true, edeCode: -1},

		{name: "blocked with EDE", qname: "unregistered.example.net", qtype: dns.TypeA, udpSize: 1232, rcode: dns.RcodeNameError,
			edeCode: int(dns.ExtendedErrorCodeBlocked), edeText: blockText},
		{name: "blocked without OPT", qname: "unregistered.example.net", qtype: dns.TypeA, rcode: dns.RcodeNameError, edeCode: -1},
		{name: "blocked AAAA", qname: "unregistered.example.net", qtype: dns.TypeAAAA, udpSize: 512, rcode: dns.RcodeNameError,
			edeCode: int(dns.ExtendedErrorCodeBlocked), edeText: blockText},
		{name: "escaped dot is not the cluster domain", qname: `evil\.cluster.local`, qtype: dns.TypeA, rcode: dns.RcodeNameError, edeCode: -1},
		{name: "lookalike suffix blocked", qname: "evilcluster.local", qtype: dns.TypeA, rcode: dns.RcodeNameError, edeCode: -1},
		{name: "parent of wildcard blocked", qname: "wild.example.org", qtype: dns.TypeA, rcode: dns.RcodeNameError, edeCode: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			egress := egress4
			if tt.egress != "" {
				egress = mustAddr(t, tt.egress)
			}
			h := NewHandler(Config{
				Names: namesFunc(testNames), EgressAddr: egress, ClusterDomain: "cluster.local",
				Upstream: up.addr, BlockUnregistered: !tt.allowAny,
			})
			before := len(up.queries())
			req := query(tt.qname, tt.qtype, tt.udpSize)
			w := &recorder{}
			h.ServeDNS(w, req)
			got := w.reply(t)

			if got.Id != req.Id || !got.Response {
				t.Errorf("id %d response %v, want id %d response true", got.Id, got.Response, req.Id)
			}
			if got.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[got.Rcode], dns.RcodeToString[tt.rcode])
			}
			if got.Authoritative != tt.auth {
				t.Errorf("authoritative %v, want %v", got.Authoritative, tt.auth)
			}
			if len(got.Question) != 1 || got.Question[0] != req.Question[0] {
				t.Errorf("question %v, want %v", got.Question, req.Question)
			}
			var addrs []string
			for _, rr := range got.Answer {
				switch rr := rr.(type) {
				case *dns.A:
					addrs = append(addrs, rr.A.String())
				case *dns.AAAA:
					addrs = append(addrs, rr.AAAA.String())
				default:
					t.Errorf("unexpected answer %v", rr)
				}
			}
			switch {
			case tt.answer == "" && len(addrs) > 0:
				t.Errorf("answers %v, want none", addrs)
			case tt.answer != "" && (len(addrs) != 1 || addrs[0] != tt.answer):
				t.Errorf("answers %v, want [%s]", addrs, tt.answer)
			}
			if tt.auth && len(got.Answer) == 1 && got.Answer[0].Header().Ttl != defaultTTL {
				t.Errorf("ttl %d, want %d", got.Answer[0].Header().Ttl, defaultTTL)
			}
			if tt.auth && len(got.Answer) == 1 && got.Answer[0].Header().Name != req.Question[0].Name {
				t.Errorf("answer owner %q, want the question's %q", got.Answer[0].Header().Name, req.Question[0].Name)
			}
			if sent := len(up.queries()) - before; (sent > 0) != tt.upstream {
				t.Errorf("upstream got %d queries, want any: %v", sent, tt.upstream)
			}
			if (got.IsEdns0() != nil) != (tt.udpSize > 0) {
				t.Errorf("reply OPT %v, want one: %v (RFC 6891)", got.IsEdns0(), tt.udpSize > 0)
			}
			e, ok := ede(got)
			switch {
			case tt.edeCode < 0 && ok:
				t.Errorf("EDE %d %q, want none", e.InfoCode, e.ExtraText)
			case tt.edeCode >= 0 && !ok:
				t.Errorf("no EDE, want %d", tt.edeCode)
			case tt.edeCode >= 0 && (int(e.InfoCode) != tt.edeCode || e.ExtraText != tt.edeText):
				t.Errorf("EDE %d %q, want %d %q", e.InfoCode, e.ExtraText, tt.edeCode, tt.edeText)
			}
		})
	}
}

func TestServeDNSMalformed(t *testing.T) {
	q := func(mod func(m *dns.Msg)) *dns.Msg {
		m := query("api.example.com", dns.TypeA, 0)
		mod(m)
		return m
	}
	tests := []struct {
		name  string
		req   *dns.Msg
		rcode int // -1: no reply at all
	}{
		{"no question", q(func(m *dns.Msg) { m.Question = nil }), dns.RcodeFormatError},
		{"two questions", q(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), dns.RcodeFormatError},
		{"opcode update", q(func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), dns.RcodeNotImplemented},
		{"opcode notify", q(func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify }), dns.RcodeNotImplemented},
		{"opcode status no question", q(func(m *dns.Msg) { m.Opcode = dns.OpcodeStatus; m.Question = nil }), dns.RcodeNotImplemented},
		{"EDNS version 1", q(func(m *dns.Msg) { m.SetEdns0(1232, false); m.IsEdns0().SetVersion(1) }), dns.RcodeBadVers},
		{"two OPT records", q(func(m *dns.Msg) { m.SetEdns0(1232, false); m.Extra = append(m.Extra, newOPT(false)) }), dns.RcodeFormatError},
		{"two OPT records, one of version 1", q(func(m *dns.Msg) {
			m.SetEdns0(1232, false)
			m.IsEdns0().SetVersion(1)
			m.Extra = append(m.Extra, newOPT(false))
		}), dns.RcodeFormatError},
		{"a response", q(func(m *dns.Msg) { m.Response = true }), -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			metrics := NewMetrics(reg)
			h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: deadUpstream(t),
				BlockUnregistered: true, Metrics: metrics})
			w := &recorder{}
			h.ServeDNS(w, tt.req)
			if got := counterValue(t, metrics.queries[outcomeMalformed]); got != 1 {
				t.Errorf("malformed count %v, want 1", got)
			}
			if tt.rcode < 0 {
				if len(w.msgs) != 0 {
					t.Errorf("got a reply %v, want none", w.msgs[0])
				}
				return
			}
			got := w.reply(t)
			if got.Rcode != tt.rcode || got.Id != tt.req.Id || !got.Response {
				t.Errorf("rcode %s id %d, want %s id %d", dns.RcodeToString[got.Rcode], got.Id, dns.RcodeToString[tt.rcode], tt.req.Id)
			}
			if len(got.Answer) != 0 {
				t.Errorf("answers %v, want none", got.Answer)
			}
		})
	}
}

func TestBlockedLogAndMetrics(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	reg := prometheus.NewRegistry()
	metrics := NewMetrics(reg)
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: deadUpstream(t),
		BlockUnregistered: true, Log: zap.New(core), Metrics: metrics})

	h.ServeDNS(&recorder{}, query("Blocked.Example.NET.", dns.TypeAAAA, 0))
	h.ServeDNS(&recorder{}, query("api.example.com.", dns.TypeA, 0))

	infos := logs.FilterLevelExact(zapcore.InfoLevel).All()
	if len(infos) != 1 {
		t.Fatalf("got %d info lines, want 1: %v", len(infos), infos)
	}
	want := map[string]any{
		"name": "Blocked.Example.NET", "qtype": "AAAA", "client": "10.1.2.3:40000",
		"reason": "not registered (outboundTrafficPolicy REGISTRY_ONLY)",
	}
	got := infos[0].ContextMap()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("log field %s = %v, want %v", k, got[k], v)
		}
	}
	if n := logs.FilterMessage("dns query intercepted").Len(); n != 1 {
		t.Errorf("got %d intercept debug lines, want 1", n)
	}
	for o, want := range map[outcome]float64{outcomeBlocked: 1, outcomeIntercepted: 1, outcomeForwarded: 0} {
		if got := counterValue(t, metrics.queries[o]); got != want {
			t.Errorf("queries_total{outcome=%q} = %v, want %v", o, got, want)
		}
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, f := range families {
		series[f.GetName()] = len(f.GetMetric())
	}
	if n := series["egressgw_dns_queries_total"]; n != int(numOutcomes) {
		t.Errorf("egressgw_dns_queries_total has %d series, want %d", n, numOutcomes)
	}
}

func TestIsSubdomain(t *testing.T) {
	tests := []struct {
		name, zone string
		want       bool
	}{
		{"cluster.local.", "cluster.local.", true},
		{"cluster.local", "cluster.local.", true},
		{"a.svc.Cluster.Local.", "cluster.local.", true},
		{"a.svc.cluster.local", "cluster.local.", true},
		{"acluster.local.", "cluster.local.", false},
		{`a\.cluster.local.`, "cluster.local.", false},
		{`a\\.cluster.local.`, "cluster.local.", true},
		{`a\\\.cluster.local.`, "cluster.local.", false},
		{"local.", "cluster.local.", false},
		{".", "cluster.local.", false},
		{"", "cluster.local.", false},
	}
	for _, tt := range tests {
		if got := isSubdomain(tt.name, tt.zone); got != tt.want {
			t.Errorf("isSubdomain(%q, %q) = %v, want %v", tt.name, tt.zone, got, tt.want)
		}
	}
}

func mustAddr(t testing.TB, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

var _ dns.ResponseWriter = (*recorder)(nil)
var _ net.Addr = unknownAddr{}

func counterValue(t testing.TB, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
