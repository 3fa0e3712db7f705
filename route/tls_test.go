package route

import "testing"

func TestServerFor(t *testing.T) {
	a := &Server{Field: "a", Hosts: []string{"a.example.com"}}
	w := &Server{Field: "w", Hosts: []string{"*.example.com"}}
	star := &Server{Field: "star", Hosts: []string{"*"}}
	for _, tc := range []struct {
		name    string
		servers []*Server
		sni     string
		want    *Server
	}{
		{"exact", []*Server{w, a}, "a.example.com", a},
		{"wildcard", []*Server{w, a}, "b.example.com", w},
		{"none", []*Server{w, a}, "b.example.org", nil},
		{"no sni, only server", []*Server{a}, "", a},
		{"no sni, star server", []*Server{a, star}, "", star},
		{"no sni, ambiguous", []*Server{a, w}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := &Listener{Side: Ingress, Port: 443, Servers: tc.servers}
			mustTable(t, l)
			if got := l.ServerFor(tc.sni); got != tc.want {
				t.Errorf("ServerFor(%q) = %v, want %v", tc.sni, got, tc.want)
			}
		})
	}
}

func TestLookupTLSAndTCP(t *testing.T) {
	d := []Destination{{Cluster: 0}}
	l := &Listener{Side: Ingress, Port: 443,
		TLS: []*TLSRoute{
			{Field: "a", SNIHosts: []string{"nginx.example.com"}, Destinations: d},
			{Field: "b", SNIHosts: []string{"*.example.com"}, Port: 8443, Destinations: d},
			{Field: "c", SNIHosts: []string{"*.example.com"}, Destinations: d},
		},
		TCP: []*TCPRoute{{Field: "t1", Port: 31400, Destinations: d}, {Field: "t2", Destinations: d}},
	}
	mustTable(t, l)
	for _, tc := range []struct {
		sni  string
		port uint32
		want string
	}{{"nginx.example.com", 443, "a"}, {"x.example.com", 8443, "b"}, {"x.example.com", 443, "c"}, {"example.org", 443, ""}} {
		got := ""
		if r := l.LookupTLS(tc.sni, tc.port); r != nil {
			got = r.Field
		}
		if got != tc.want {
			t.Errorf("LookupTLS(%s, %d) = %q, want %q", tc.sni, tc.port, got, tc.want)
		}
	}
	for port, want := range map[uint32]string{31400: "t1", 80: "t2"} {
		if r := l.LookupTCP(port); r == nil || r.Field != want {
			t.Errorf("LookupTCP(%d) = %v, want %s", port, r, want)
		}
	}
}
