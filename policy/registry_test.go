package policy

import (
	"strings"
	"testing"
)

func TestValidateHost(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		host string
		err  string // "" for valid
	}{
		{"api.example.com", ""},
		{"*.example.com", ""},
		{"*.com", ""},
		{"localhost", ""},
		{"10.0.0.1", ""},
		{"a-b.example.com", ""},
		{long + ".com", ""},
		{"", "host is empty"},
		{"*", `a lone "*" is not allowed; use "*.example.com"`},
		{"*example.com", `"*" is only allowed as the whole first label, as in "*.example.com"`},
		{"api.*.com", `"*" is only allowed as the whole first label, as in "*.example.com"`},
		{"*.*.example.com", `"*" is only allowed as the whole first label, as in "*.example.com"`},
		{"example.*", `"*" is only allowed as the whole first label, as in "*.example.com"`},
		{"API.example.com", "must be lowercase"},
		{"example.com.", "must not end with a dot"},
		{"a..com", "empty label"},
		{".example.com", "empty label"},
		{"*.", "empty label"},
		{"-a.com", `label "-a" starts or ends with "-"`},
		{"a-.com", `label "a-" starts or ends with "-"`},
		{"a_b.com", `label "a_b" has character '_' (letters, digits and '-' only)`},
		{"a b.com", `label "a b" has character ' ' (letters, digits and '-' only)`},
		{"example.com:443", `label "com:443" has character ':' (letters, digits and '-' only)`},
		{long + "a.com", `label "` + long + `a" is longer than 63 characters`},
		{strings.Repeat(long+".", 4) + "com", "longer than 253 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			err := ValidateHost(tt.host)
			if got := errString(err); got != tt.err {
				t.Errorf("ValidateHost(%q) = %q, want %q", tt.host, got, tt.err)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestNewRegistryErrors(t *testing.T) {
	tests := []struct {
		name    string
		entries []Entry
		err     string
	}{
		{"lone star", []Entry{{Host: "*", Ports: []uint32{443}, Source: "ServiceEntry default/x"}},
			`ServiceEntry default/x: host "*": a lone "*" is not allowed; use "*.example.com"`},
		{"no ports", []Entry{{Host: "a.com", Source: "ServiceEntry default/x"}},
			`ServiceEntry default/x: host "a.com": no ports`},
		{"port 0", []Entry{{Host: "a.com", Ports: []uint32{443, 0}, Source: "ServiceEntry default/x"}},
			`ServiceEntry default/x: host "a.com": port 0: must be 1..65535`},
		{"port too big", []Entry{{Host: "a.com", Ports: []uint32{65536}, Source: "Service default/y"}},
			`Service default/y: host "a.com": port 65536: must be 1..65535`},
		{"no source", []Entry{{Host: "a.com", Ports: []uint32{80}}, {Host: "B.com", Ports: []uint32{80}}},
			`entries[1]: host "B.com": must be lowercase`},
		{"wildcard authz host", []Entry{{Host: "db.svc", Ports: []uint32{5432}, AuthzHost: "*.example.com", Source: "Service default/db"}},
			`Service default/db: authzHost "*.example.com": must not be a wildcard`},
		{"bad authz host", []Entry{{Host: "db.svc", Ports: []uint32{5432}, AuthzHost: "DB.example.com", Source: "Service default/db"}},
			`Service default/db: authzHost "DB.example.com": must be lowercase`},
		{"every problem", []Entry{
			{Host: "*", Ports: []uint32{80}, Source: "ServiceEntry ns/a"},
			{Host: "ok.com", Ports: []uint32{80}, Source: "ServiceEntry ns/b"},
			{Host: "x.com", Source: "ServiceEntry ns/c"},
		}, `ServiceEntry ns/a: host "*": a lone "*" is not allowed; use "*.example.com"` + "\n" +
			`ServiceEntry ns/c: host "x.com": no ports`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRegistry(tt.entries)
			if got := errString(err); got != tt.err {
				t.Errorf("NewRegistry error = %q, want %q", got, tt.err)
			}
			if r != nil {
				t.Errorf("NewRegistry returned a registry with an error")
			}
		})
	}
}

// testEntries is the registry most lookup tests use; comments give indexes.
var testEntries = []Entry{
	{Host: "api.example.com", Ports: []uint32{443}, Source: "ServiceEntry default/api"},       // 0
	{Host: "*.example.com", Ports: []uint32{80, 443}, Source: "ServiceEntry default/wild"},    // 1
	{Host: "*.eu.example.com", Ports: []uint32{443}, Source: "ServiceEntry default/eu"},       // 2
	{Host: "api.example.com", Ports: []uint32{443, 8443}, Source: "ServiceEntry default/dup"}, // 3: 443 shadowed by 0
	{Host: "*.example.com", Ports: []uint32{80, 9000}, Source: "ServiceEntry default/wild2"},  // 4: 80 shadowed by 1
	{Host: "db.internal", Ports: []uint32{5432}, Source: "Service default/db"},                // 5
	{Host: "*.com", Ports: []uint32{8080}, Source: "ServiceEntry default/com"},                // 6
}

func mustRegistry(t testing.TB, entries []Entry) *Registry {
	t.Helper()
	r, err := NewRegistry(entries)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	return r
}

func TestLookup(t *testing.T) {
	r := mustRegistry(t, testEntries)
	tests := []struct {
		host string
		port uint32
		want int // -1: not found
	}{
		{"api.example.com", 443, 0},
		{"api.example.com", 80, 1},   // exact only on 443: falls to the wildcard on 80
		{".eu.example.com", 443, -1}, // an empty first label is no name, not the wildcard's key
		{"api.example.com", 8443, 3}, // the later entry still owns its other ports
		{"api.example.com", 9000, 4},
		{"api.example.com", 22, -1},
		{"www.example.com", 443, 1},
		{"a.b.c.example.com", 443, 1}, // any depth
		{"example.com", 443, -1},      // the wildcard needs a label in front
		{"fr.eu.example.com", 443, 2}, // longest suffix wins
		{"x.fr.eu.example.com", 443, 2},
		{"eu.example.com", 443, 1},
		{"fr.eu.example.com", 80, 1}, // *.eu only on 443
		{"API.Example.COM", 443, 0},  // case
		{"api.example.com.", 443, 0}, // trailing dot
		{"WWW.EXAMPLE.COM.", 443, 1},
		{"api.example.com..", 443, -1},
		{".example.com", 443, -1},
		{"a..example.com", 443, -1},
		{".", 443, -1},
		{"", 443, -1},
		{"db.internal", 5432, 5},
		{"db.internal", 443, -1},
		{"anything.com", 8080, 6},
		{"a.b.com", 8080, 6},
		{"com", 8080, -1},
		{"api.example.org", 443, -1},
		{strings.Repeat("a", 240) + ".example.com", 443, 1},  // 252 bytes
		{strings.Repeat("a", 241) + ".example.com.", 443, 1}, // 253 + dot
		{strings.Repeat("a", 242) + ".example.com", 443, -1}, // 254: too long
	}
	for _, tt := range tests {
		name := tt.host
		if len(name) > 40 {
			name = name[len(name)-40:]
		}
		t.Run(name, func(t *testing.T) {
			got, ok := r.Lookup(tt.host, tt.port)
			if got != tt.want || ok != (tt.want >= 0) {
				t.Errorf("Lookup(%q, %d) = %d, %v; want %d, %v", tt.host, tt.port, got, ok, tt.want, tt.want >= 0)
			}
		})
	}
}

func TestIntercepts(t *testing.T) {
	r := mustRegistry(t, testEntries)
	tests := []struct {
		name string
		want bool
	}{
		{"api.example.com", true},
		{"API.EXAMPLE.COM.", true},
		{"x.y.example.com", true},
		{"example.com", true}, // by *.com
		{"db.internal", true},
		{"db.internal.", true},
		{"internal", false},
		{"com", false},
		{"other.org", false},
		{"", false},
		{".", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := r.Intercepts(tt.name); got != tt.want {
				t.Errorf("Intercepts(%q) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

func TestRegistryLenEntry(t *testing.T) {
	in := []Entry{{Host: "a.com", Ports: []uint32{443}, Source: "ServiceEntry ns/a"}}
	r := mustRegistry(t, in)
	in[0].Ports[0] = 80 // the registry keeps its own copy
	if got, want := r.Len(), 1; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	if got := r.Entry(0); got.Host != "a.com" || got.Ports[0] != 443 || got.Source != "ServiceEntry ns/a" {
		t.Errorf("Entry(0) = %+v, want a.com on 443", got)
	}
	if _, ok := r.Lookup("a.com", 443); !ok {
		t.Errorf("Lookup(a.com, 443) after caller changed its slice: not found")
	}

	var nilReg *Registry
	if got := nilReg.Len(); got != 0 {
		t.Errorf("nil Len() = %d, want 0", got)
	}
	if i, ok := nilReg.Lookup("a.com", 443); ok || i != -1 {
		t.Errorf("nil Lookup = %d, %v; want -1, false", i, ok)
	}
	if nilReg.Intercepts("a.com") {
		t.Errorf("nil Intercepts = true, want false")
	}

	empty := mustRegistry(t, nil)
	if _, ok := empty.Lookup("a.com", 443); ok {
		t.Errorf("empty Lookup found a.com")
	}
}
