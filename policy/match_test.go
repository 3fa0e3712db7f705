package policy

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

// naiveDecide is Decide for a policy with no registry in ALLOW_ANY mode,
// with the authorization policies evaluated the obvious way.
func naiveDecide(ps []AuthzPolicy, q Query) (allow bool, rule string) {
	host := strings.TrimSuffix(q.Host, ".")
	ruleMatches := func(r Rule, deny bool) bool {
		src := q.Source.Unmap()
		from := len(r.From) == 0
		for _, s := range r.From {
			in := func(ps []netip.Prefix) bool {
				return slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(src) })
			}
			from = from || (len(s.IPBlocks) == 0 || in(s.IPBlocks)) && !in(s.NotIPBlocks)
		}
		to := len(r.To) == 0
		for _, o := range r.To {
			anyHost := func(pats []string) bool {
				return slices.ContainsFunc(pats, func(p string) bool { return naiveHostMatch(p, host, q.Port) })
			}
			anyPath := func(pats []string) bool {
				return slices.ContainsFunc(pats, func(p string) bool {
					switch {
					case p == "*":
						return true
					case strings.HasPrefix(p, "*"):
						return strings.HasSuffix(q.Path, p[1:])
					case strings.HasSuffix(p, "*"):
						return strings.HasPrefix(q.Path, p[:len(p)-1])
					}
					return q.Path == p
				})
			}
			http := len(o.Methods)+len(o.NotMethods)+len(o.Paths)+len(o.NotPaths) > 0
			ok := !(http && !q.HTTP && !deny) &&
				(len(o.Hosts) == 0 || anyHost(o.Hosts)) && !anyHost(o.NotHosts) &&
				(len(o.Ports) == 0 || slices.Contains(o.Ports, q.Port)) && !slices.Contains(o.NotPorts, q.Port)
			if ok && q.HTTP {
				ok = (len(o.Methods) == 0 || slices.Contains(o.Methods, q.Method)) && !slices.Contains(o.NotMethods, q.Method) &&
					(len(o.Paths) == 0 || anyPath(o.Paths)) && !anyPath(o.NotPaths)
			}
			to = to || ok
		}
		return from && to
	}
	hasAllow := false
	for _, deny := range []bool{true, false} {
		for _, p := range ps {
			if (p.Action == ActionDeny) != deny {
				continue
			}
			hasAllow = hasAllow || !deny
			for i, r := range p.Rules {
				if ruleMatches(r, deny) {
					return !deny, "AuthorizationPolicy " + p.Name + " rules[" + string(rune('0'+i)) + "]"
				}
			}
		}
	}
	if hasAllow {
		return false, ruleAuthz
	}
	return true, ruleAllowAny
}

// TestDecideNaive checks Decide against naiveDecide on random policies and
// queries, drawn from values around the edges of the compiled matching:
// word-sized host patterns, case, ports, address families.
func TestDecideNaive(t *testing.T) {
	hostPats := []string{"a.com", "*.a.com", "A.COM", "api.*", "*", "b.a.com:443", "*.example.com:*", "svc.example.com",
		"very.long.service.name.example.com", "*.long.service.name.example.com", "x*", "*.io:80", "api.example.*"}
	hosts := []string{"a.com", "A.Com.", "b.a.com", "api.example.com", "svc.example.com", "SVC.EXAMPLE.COM", "x", "",
		"very.long.service.name.example.com", "a.very.long.service.name.example.com", "short.io", "api.example.org"}
	prefixes := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("192.168.1.0/24"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("::ffff:10.0.0.0/104")}
	sources := []netip.Addr{netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("192.168.1.9"), netip.MustParseAddr("fd00::1"),
		netip.MustParseAddr("::ffff:10.1.2.3"), netip.MustParseAddr("fe80::1%eth0"), {}}
	ports := []uint32{80, 443, 8443}
	methods := []string{"GET", "POST"}
	pathPats := []string{"/admin/*", "/x", "*.css", "*"}
	paths := []string{"/admin/a", "/x", "/s.css", "/"}

	rng := rand.New(rand.NewPCG(1, 2))
	some := func(vs []string) []string {
		var out []string
		for range rng.IntN(3) {
			out = append(out, vs[rng.IntN(len(vs))])
		}
		return out
	}
	maybe := func(vs []string) []string {
		if rng.IntN(3) == 0 {
			return []string{vs[rng.IntN(len(vs))]}
		}
		return nil
	}
	rule := func() Rule {
		var r Rule
		for range rng.IntN(3) {
			var s Source
			for range 1 + rng.IntN(2) {
				if rng.IntN(3) == 0 {
					s.NotIPBlocks = append(s.NotIPBlocks, prefixes[rng.IntN(len(prefixes))])
				} else {
					s.IPBlocks = append(s.IPBlocks, prefixes[rng.IntN(len(prefixes))])
				}
			}
			r.From = append(r.From, s)
		}
		for range rng.IntN(3) {
			var o Operation
			for o.Hosts == nil && o.NotHosts == nil && o.Ports == nil && o.Methods == nil && o.Paths == nil && o.NotPaths == nil {
				o = Operation{Hosts: some(hostPats), NotHosts: maybe(hostPats)}
				if rng.IntN(3) == 0 {
					o.Ports = []uint32{ports[rng.IntN(len(ports))]}
				}
				if rng.IntN(4) == 0 {
					o.NotPorts = []uint32{ports[rng.IntN(len(ports))]}
				}
				if rng.IntN(4) == 0 {
					o.Methods, o.NotMethods = some(methods), maybe(methods)
				}
				if rng.IntN(4) == 0 {
					o.Paths, o.NotPaths = some(pathPats), maybe(pathPats)
				}
			}
			r.To = append(r.To, o)
		}
		return r
	}
	for range 3000 {
		var ps []AuthzPolicy
		for i := range 1 + rng.IntN(3) {
			p := AuthzPolicy{Name: "ns/" + string(rune('a'+i)), Action: Action(rng.IntN(2))}
			for range rng.IntN(4) {
				p.Rules = append(p.Rules, rule())
			}
			ps = append(ps, p)
		}
		a, err := NewAuthz(ps)
		if err != nil {
			t.Fatal(err)
		}
		p := &Policy{Mode: AllowAny, Authz: a}
		for range 10 {
			q := Query{Host: hosts[rng.IntN(len(hosts))], Port: ports[rng.IntN(len(ports))], Source: sources[rng.IntN(len(sources))]}
			if rng.IntN(2) == 0 {
				q.HTTP, q.Method, q.Path = true, methods[rng.IntN(len(methods))], paths[rng.IntN(len(paths))]
			}
			d := p.Decide(q)
			if allow, rule := naiveDecide(ps, q); d.Allow != allow || d.Rule != rule {
				t.Fatalf("Decide(%+v) = %v by %q, want %v by %q\npolicies: %+v", q, d.Allow, d.Rule, allow, rule, ps)
			}
		}
	}
}
