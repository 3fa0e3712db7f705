package dnsproxy

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestServerUDPAndTCP(t *testing.T) {
	up := startUpstream(t)
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: up.addr, BlockUnregistered: true})
	s := serve(t, h)

	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: 2 * time.Second}
		tests := []struct {
			qname  string
			rcode  int
			answer string
		}{
			{"api.example.com.", dns.RcodeSuccess, "10.96.0.10"},
			{"kubernetes.default.svc.cluster.local.", dns.RcodeSuccess, "192.0.2.1"},
			{"blocked.example.net.", dns.RcodeNameError, ""},
		}
		for _, tt := range tests {
			resp, _, err := c.Exchange(query(tt.qname, dns.TypeA, 1232), s.Addr())
			if err != nil {
				t.Fatalf("%s %s: %v", network, tt.qname, err)
			}
			got := ""
			if len(resp.Answer) == 1 {
				got = resp.Answer[0].(*dns.A).A.String()
			}
			if resp.Rcode != tt.rcode || got != tt.answer {
				t.Errorf("%s %s: rcode %s answer %q, want %s %q", network, tt.qname,
					dns.RcodeToString[resp.Rcode], got, dns.RcodeToString[tt.rcode], tt.answer)
			}
		}
	}
}

func TestServerStartErrorNamesAddress(t *testing.T) {
	s := NewServer("127.0.0.1:0", dns.HandlerFunc(func(dns.ResponseWriter, *dns.Msg) {}))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())

	taken := s.Addr()
	err := NewServer(taken, dns.HandlerFunc(func(dns.ResponseWriter, *dns.Msg) {})).Start()
	if err == nil || !strings.Contains(err.Error(), taken) {
		t.Errorf("Start on a taken address: %v, want an error naming %s", err, taken)
	}
	if err := NewServer("no-port", nil).Start(); err == nil || !strings.Contains(err.Error(), "no-port") {
		t.Errorf("Start on a bad address: %v, want an error naming it", err)
	}
}

func TestServerShutdownUnstarted(t *testing.T) {
	if err := NewServer("127.0.0.1:0", nil).Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
}

// TestServerLongUDPQuery: a query longer than 512 bytes (here for its
// EDNS0 padding) reaches the handler whole.
func TestServerLongUDPQuery(t *testing.T) {
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: deadUpstream(t)})
	s := serve(t, h)

	req := query("api.example.com", dns.TypeA, 4096)
	opt := req.IsEdns0()
	opt.Option = append(opt.Option, &dns.EDNS0_PADDING{Padding: make([]byte, 1000)})
	c := &dns.Client{Net: "udp", Timeout: 2 * time.Second, UDPSize: 4096}
	resp, _, err := c.Exchange(req, s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != 1 {
		t.Errorf("rcode %s answers %v, want NOERROR with the egress address", dns.RcodeToString[resp.Rcode], resp.Answer)
	}
}

// A query with two OPT records is answered FORMERR over UDP and TCP (RFC
// 6891 section 6.1.1), whether its name is intercepted or forwarded, and
// nothing is forwarded.
func TestServerTwoOPTRecordsFormErr(t *testing.T) {
	up := startUpstream(t)
	h := NewHandler(Config{Names: namesFunc(testNames), EgressAddr: egress4, Upstream: up.addr})
	s := serve(t, h)
	for _, network := range []string{"udp", "tcp"} {
		for _, name := range []string{"api.example.com.", "kubernetes.default.svc.cluster.local."} {
			req := query(name, dns.TypeA, 1232)
			req.Extra = append(req.Extra, newOPT(false))
			c := &dns.Client{Net: network, Timeout: 2 * time.Second}
			resp, _, err := c.Exchange(req, s.Addr())
			if err != nil {
				t.Fatalf("%s %s: %v", network, name, err)
			}
			if resp.Rcode != dns.RcodeFormatError || resp.Id != req.Id || len(resp.Answer) != 0 {
				t.Errorf("%s %s: rcode %s id %d answers %v, want FORMERR id %d and no answer",
					network, name, dns.RcodeToString[resp.Rcode], resp.Id, resp.Answer, req.Id)
			}
		}
	}
	if got := up.queries(); len(got) != 0 {
		t.Errorf("upstream saw %v, want nothing forwarded", got)
	}
}

// TestServerStdlib runs the server's tests with UDP answered by miekg's
// server instead of the read loop of our own (--fast-paths=false).
func TestServerStdlib(t *testing.T) {
	stdlibInTests = true
	defer func() { stdlibInTests = false }()
	for _, tt := range []struct {
		name string
		test func(*testing.T)
	}{
		{"UDPAndTCP", TestServerUDPAndTCP},
		{"LongUDPQuery", TestServerLongUDPQuery},
		{"TwoOPTRecordsFormErr", TestServerTwoOPTRecordsFormErr},
		{"SurvivesPanics", TestServerSurvivesPanics},
		// (not the flood's goroutine count: miekg's server starts one per datagram)
		{"ForwardLimitPerSource", TestForwardLimitPerSource},
		{"Taken", testStdlibTaken},
	} {
		t.Run(tt.name, tt.test)
	}
}

// testStdlibTaken checks that the switch switches: no read loop of our own
// (and so no poller yield) is started.
func testStdlibTaken(t *testing.T) {
	s := serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		_ = w.WriteMsg(m)
	}))
	if s.yield != nil || s.udpSrv == nil {
		t.Errorf("Stdlib server: read loop yielder %v, miekg UDP server %v; want none and one", s.yield, s.udpSrv)
	}
	q := new(dns.Msg)
	q.SetQuestion("x.", dns.TypeA)
	if _, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(q, s.Addr()); err != nil {
		t.Fatalf("UDP query to the Stdlib server: %v", err)
	}
}
