package route

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

func TestTableListener(t *testing.T) {
	e80, i80, i443 := &Listener{Side: Egress, Port: 80}, &Listener{Side: Ingress, Port: 80}, &Listener{Side: Ingress, Port: 443}
	tb := mustTable(t, i443, e80, i80)
	if got := tb.Listeners(); len(got) != 3 || got[0] != e80 || got[1] != i80 || got[2] != i443 {
		t.Errorf("Listeners() not sorted by (side, port): %v", got)
	}
	for _, tc := range []struct {
		side Side
		port uint32
		want *Listener
	}{{Egress, 80, e80}, {Ingress, 80, i80}, {Ingress, 443, i443}, {Egress, 443, nil}, {Ingress, 8080, nil}} {
		if got := tb.Listener(tc.side, tc.port); got != tc.want {
			t.Errorf("Listener(%s, %d) = %v, want %v", tc.side, tc.port, got, tc.want)
		}
	}
	var none *Table
	if none.Listener(Ingress, 80) != nil || none.Listeners() != nil {
		t.Error("a nil Table has listeners")
	}
}

func TestNewErrors(t *testing.T) {
	s := &Server{Gateway: "ns/gw", Field: "spec.servers[0]", Hosts: []string{"*"}}
	for _, tc := range []struct {
		name string
		ls   []*Listener
		want string
	}{
		{"duplicate", []*Listener{{Side: Ingress, Port: 80}, {Side: Ingress, Port: 80}}, "ingress port 80: listed twice"},
		{"foreign server", []*Listener{{Side: Ingress, Port: 80, HTTP: []*VirtualHost{{Host: "*", Server: s}}}}, "is not one of the listener's"},
		{"weights", []*Listener{{Side: Ingress, Port: 80, HTTP: []*VirtualHost{{Host: "*", Routes: []*HTTPRoute{
			{Action: Action{Destinations: []Destination{{Weight: 60}, {Weight: 30}}, TotalWeight: 100}}}}}}}, "weights add up to 90, not to the total weight 100"},
		{"no destination", []*Listener{{Side: Ingress, Port: 80, HTTP: []*VirtualHost{{Host: "*", Routes: []*HTTPRoute{{}}}}}}, "no destination"},
		{"regex", []*Listener{{Side: Ingress, Port: 80, HTTP: []*VirtualHost{{Host: "*", Routes: []*HTTPRoute{
			{Match: []Match{{URI: StringMatch{Kind: MatchRegex}}}, Action: one(0)}}}}}}, "regex match without a compiled regex"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.ls)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestPick(t *testing.T) {
	a := Action{Destinations: []Destination{{Cluster: 0, Weight: 75}, {Cluster: 1, Weight: 0}, {Cluster: 2, Weight: 25}}, TotalWeight: 100}
	for n, want := range map[uint32]int{0: 0, 74: 0, 75: 2, 99: 2, 1000: 2} {
		if got := a.Pick(n); got == nil || got.Cluster != want {
			t.Errorf("Pick(%d) = %+v, want cluster %d", n, got, want)
		}
	}
	if got := one(3); got.Pick(0).Cluster != 3 {
		t.Errorf("single destination: Pick(0) = %+v", got.Pick(0))
	}
	if (&TCPRoute{}).Pick(0) != nil || (&TLSRoute{Destinations: []Destination{{Cluster: 4}}}).Pick(7).Cluster != 4 {
		t.Error("TLS/TCP Pick")
	}
}

func TestHostIndex(t *testing.T) {
	x := newHostIndex()
	for i, p := range []string{"a.example.com", "*.example.com", "*.b.example.com", "*", "*.example.com"} {
		x.add(p, i)
	}
	for host, want := range map[string]int{
		"a.example.com": 0, "b.example.com": 1, "c.b.example.com": 2, "example.com": 3, "": 3, ".example.com": 3, "x..example.com": 1,
	} {
		if got := x.find(host); got != want {
			t.Errorf("find(%q) = %d, want %d", host, got, want)
		}
	}
	if y := newHostIndex(); y.find("a") != -1 || !y.empty() {
		t.Error("an empty index finds something")
	}
}

func TestTableJSON(t *testing.T) {
	s := &Server{Gateway: "ns/gw", Field: "spec.servers[0]", Hosts: []string{"*"}, TLS: &ServerTLS{Mode: TLSSimple, CertPEM: []byte("CERT"), KeyPEM: []byte("SECRET KEY")}}
	l := &Listener{Side: Ingress, Port: 443, Servers: []*Server{s}, HTTP: []*VirtualHost{{Host: "*", Server: s, Routes: []*HTTPRoute{
		{Match: []Match{{URI: StringMatch{Kind: MatchRegex, Value: "/a.*", Re: re("/a.*")}}}, Action: one(0)}}}}}
	b, err := json.Marshal(mustTable(t, l))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "SECRET") || strings.Contains(string(b), base64.StdEncoding.EncodeToString([]byte("SECRET KEY"))) {
		t.Errorf("the dump holds the private key: %s", b)
	}
	if !strings.Contains(string(b), `"Value":"/a.*"`) || !strings.Contains(string(b), `"Port":443`) {
		t.Errorf("dump = %s", b)
	}
}
