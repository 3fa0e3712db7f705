package servercert

import "strings"

// listenerServers is the servers of one listener, indexed by host as
// route.Listener.ServerFor finds them: exact, then the longest wildcard
// suffix, then "*". The first server claiming a host keeps it. Immutable.
type listenerServers struct {
	servers []*server
	exact   map[string]*server // "a.example.com"
	suffix  map[string]*server // ".example.com", from "*.example.com"
	star    *server            // hosts "*"
}

func newListenerServers(servers []*server) *listenerServers {
	l := &listenerServers{servers: servers, exact: map[string]*server{}, suffix: map[string]*server{}}
	for _, s := range servers {
		for _, h := range s.spec.Server.Hosts {
			switch {
			case h == "*":
				if l.star == nil {
					l.star = s
				}
			case strings.HasPrefix(h, "*."):
				if _, ok := l.suffix[h[1:]]; !ok {
					l.suffix[h[1:]] = s
				}
			default:
				if _, ok := l.exact[h]; !ok {
					l.exact[h] = s
				}
			}
		}
	}
	return l
}

// forName returns the server for a lowercase SNI without trailing dot, or
// nil. It allocates nothing.
func (l *listenerServers) forName(name string) *server {
	if s := l.exact[name]; s != nil {
		return s
	}
	// From 1: a wildcard stands for at least one character (".example.com"
	// is no name "*.example.com" covers).
	for i := 1; i < len(name); i++ {
		if name[i] == '.' {
			if s := l.suffix[name[i:]]; s != nil {
				return s
			}
		}
	}
	return l.star
}

// noSNI returns the server for a ClientHello without SNI: the port's only
// server, or the one with hosts "*"; nil when there is no such server.
func (l *listenerServers) noSNI() *server {
	if len(l.servers) == 1 {
		return l.servers[0]
	}
	return l.star
}

// normalizeSNI lowercases name's ASCII letters (a host name in SNI is
// ASCII) and drops a trailing dot, allocating only when name has an
// uppercase letter.
func normalizeSNI(name string) string {
	name = strings.TrimSuffix(name, ".")
	for i := 0; i < len(name); i++ {
		if c := name[i]; 'A' <= c && c <= 'Z' {
			b := []byte(name)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return name
}
