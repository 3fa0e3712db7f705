package dnsproxy

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// wantIntercept is the intercepted reply built as a dns.Msg, the way the
// handler did before it packed replies itself.
func wantIntercept(h *Handler, r *dns.Msg) *dns.Msg {
	q := r.Question[0]
	m := new(dns.Msg)
	m.Id = r.Id
	m.Response, m.Authoritative, m.RecursionAvailable = true, true, true
	m.RecursionDesired, m.CheckingDisabled = r.RecursionDesired, r.CheckingDisabled
	m.Question = r.Question
	hdr := dns.RR_Header{Name: q.Name, Rrtype: q.Qtype, Class: dns.ClassINET, Ttl: h.ttl}
	switch {
	case q.Qclass != dns.ClassINET:
	case q.Qtype == dns.TypeA && h.a != nil:
		m.Answer = []dns.RR{&dns.A{Hdr: hdr, A: h.a}}
	case q.Qtype == dns.TypeAAAA && h.aaaa != nil:
		m.Answer = []dns.RR{&dns.AAAA{Hdr: hdr, AAAA: h.aaaa}}
	}
	if ropt := r.IsEdns0(); ropt != nil {
		m.Extra = []dns.RR{newOPT(ropt.Do())}
	}
	return m
}

func TestPackIntercept(t *testing.T) {
	q := func(name string, qtype uint16, udpSize uint16, mod func(*dns.Msg)) *dns.Msg {
		m := query(name, qtype, udpSize)
		if mod != nil {
			mod(m)
		}
		return m
	}
	tests := []struct {
		name   string
		egress netip.Addr
		req    *dns.Msg
	}{
		{"A", egress4, q("api.example.com", dns.TypeA, 0, nil)},
		{"A mixed case", egress4, q("Api.EXAMPLE.com", dns.TypeA, 0, nil)},
		{"A with EDNS0", egress4, q("api.example.com", dns.TypeA, 4096, nil)},
		{"A with DO", egress4, q("api.example.com", dns.TypeA, 1232, func(m *dns.Msg) { m.IsEdns0().SetDo() })},
		{"A without RD, with CD", egress4, q("api.example.com", dns.TypeA, 0, func(m *dns.Msg) {
			m.RecursionDesired, m.CheckingDisabled = false, true
		})},
		{"A, AD and Z asked, not echoed", egress4, q("api.example.com", dns.TypeA, 0, func(m *dns.Msg) {
			m.AuthenticatedData, m.Zero = true, true
		})},
		{"AAAA with IPv4 egress", egress4, q("api.example.com", dns.TypeAAAA, 1232, nil)},
		{"AAAA", egress6, q("api.example.com", dns.TypeAAAA, 1232, nil)},
		{"A with IPv6 egress", egress6, q("api.example.com", dns.TypeA, 0, nil)},
		{"HTTPS", egress4, q("x.wild.example.org", dns.TypeHTTPS, 1232, nil)},
		{"class CH", egress4, q("api.example.com", dns.TypeA, 0, func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS })},
		{"escaped name", egress4, q(`a\.b.wild.example.org`, dns.TypeA, 0, nil)},
		{"longest name", egress6, q(longName(), dns.TypeAAAA, 1232, func(m *dns.Msg) { m.IsEdns0().SetDo() })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHandler(Config{EgressAddr: tt.egress})
			tt.req.Id = 777
			b, _, err := h.packIntercept(make([]byte, 0, smallBufferLen), tt.req, &tt.req.Question[0])
			if err != nil {
				t.Fatal(err)
			}
			got := new(dns.Msg)
			if err := got.Unpack(b); err != nil {
				t.Fatalf("reply does not unpack: %v", err)
			}
			if want := wantIntercept(h, tt.req); got.String() != want.String() {
				t.Errorf("reply\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// longName is a 255-octet name in wire format.
func longName() string {
	label := "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijk" // 63
	return label + "." + label + "." + label + "." + label[:61] + "."
}

func TestPackInterceptBadName(t *testing.T) {
	h := NewHandler(Config{EgressAddr: egress4})
	r := query("api.example.com", dns.TypeA, 0)
	r.Question[0].Name = "not-fully-qualified"
	if _, _, err := h.packIntercept(make([]byte, 0, smallBufferLen), r, &r.Question[0]); err == nil {
		t.Error("packIntercept packed a name that is not fully qualified")
	}
}

func TestMatchReply(t *testing.T) {
	q := query("www.Example.net", dns.TypeA, 1232)
	q.Id = 4242
	qb, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	qend, ok := questionEnd(qb)
	if !ok {
		t.Fatal("questionEnd: no question")
	}
	reply := func(mod func(m *dns.Msg)) []byte {
		m := replyA(q, "192.0.2.1")
		mod(m)
		b, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		reply []byte
		want  replyStatus
	}{
		{"reply", reply(func(*dns.Msg) {}), replyMatches},
		{"name in other case", reply(func(m *dns.Msg) { m.Question[0].Name = "WWW.EXAMPLE.NET." }), replyMatches},
		{"compressed answer", reply(func(m *dns.Msg) { m.Compress = true }), replyMatches},
		{"no question", reply(func(m *dns.Msg) { m.Question = nil; m.Rcode = dns.RcodeFormatError }), replyMatches},
		{"other ID", reply(func(m *dns.Msg) { m.Id++ }), replyStale},
		{"not a response", reply(func(m *dns.Msg) { m.Response = false }), replyStale},
		{"header only", reply(func(*dns.Msg) {})[:headerLen-1], replyStale},
		{"other name", reply(func(m *dns.Msg) { m.Question[0].Name = "www.example.org." }), replyOtherQuestion},
		{"longer name", reply(func(m *dns.Msg) { m.Question[0].Name = "www.example.net.x." }), replyOtherQuestion},
		{"other label split", reply(func(m *dns.Msg) { m.Question[0].Name = `www\.example.net.` }), replyOtherQuestion},
		{"other type", reply(func(m *dns.Msg) { m.Question[0].Qtype = dns.TypeAAAA }), replyOtherQuestion},
		{"other class", reply(func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS }), replyOtherQuestion},
		{"two questions", reply(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), replyOtherQuestion},
		{"cut in the question", reply(func(*dns.Msg) {})[:qend-2], replyOtherQuestion},
	}
	for _, tt := range tests {
		if got := matchReply(tt.reply, qb, qend); got != tt.want {
			t.Errorf("%s: matchReply = %d, want %d", tt.name, got, tt.want)
		}
	}
}
