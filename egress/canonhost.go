package egress

import (
	"net/netip"
	"strconv"
	"strings"
)

// canonicalHost returns the Host a request to listener port is decided
// on and forwarded with, or why the host is invalid. The name is
// lowercased and loses one trailing dot; a port is kept only when the
// client wrote one, and then it is the port the client addressed (the
// listener's, whatever the header said), dropped when that is 80, the
// default of the plain HTTP the client spoke. An IPv6 literal keeps its
// brackets. An empty Host (HTTP/1.0) stays empty. It allocates only when
// the result differs from h.
func canonicalHost(h string, port uint32) (string, string) {
	if h == "" {
		return "", ""
	}
	name, portStr, hasPort, problem := splitHostPort(h)
	if problem != "" {
		return "", problem
	}
	sent := 0                                        // the port the Host header names
	if hasPort = hasPort && portStr != ""; hasPort { // "host:" means the default port (RFC 3986)
		if sent, problem = checkPort(portStr); problem != "" {
			return "", problem
		}
	}
	if strings.HasPrefix(name, "[") {
		a, err := netip.ParseAddr(name[1 : len(name)-1])
		if err != nil || !a.Is6() || a.Zone() != "" {
			return "", "host " + strconv.Quote(name) + " is not an IPv6 address"
		}
	} else {
		name = strings.TrimSuffix(name, ".")
		if problem := checkName(name, h); problem != "" {
			return "", problem
		}
	}
	keepPort := hasPort && port != 80
	switch {
	case hasUpper(name):
	case !hasPort && len(name) == len(h):
		return h, "" // the common cases, already canonical
	case keepPort && len(name)+1+len(portStr) == len(h) && sent == int(port) && portStr[0] != '0':
		return h, ""
	}
	name = strings.ToLower(name)
	if keepPort {
		return name + ":" + strconv.FormatUint(uint64(port), 10), ""
	}
	return name, ""
}

// splitHostPort cuts h into the host (an IPv6 literal with its brackets)
// and the port after a colon, if any.
func splitHostPort(h string) (name, port string, hasPort bool, problem string) {
	if strings.HasPrefix(h, "[") {
		j := strings.IndexByte(h, ']')
		if j < 0 {
			return "", "", false, "host " + strconv.Quote(h) + " has no closing ']'"
		}
		name, rest := h[:j+1], h[j+1:]
		switch {
		case rest == "":
			return name, "", false, ""
		case rest[0] != ':':
			return "", "", false, "host " + strconv.Quote(h) + " has " + strconv.Quote(rest) + " after its IPv6 address"
		}
		return name, rest[1:], true, ""
	}
	i := strings.IndexByte(h, ':')
	if i < 0 {
		return h, "", false, ""
	}
	if strings.IndexByte(h[i+1:], ':') >= 0 {
		return "", "", false, "host " + strconv.Quote(h) + " has more than one ':' (an IPv6 address goes in brackets)"
	}
	return h[:i], h[i+1:], true, ""
}

// checkPort returns the number of a Host header's port, or what is wrong with it.
func checkPort(p string) (int, string) {
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return 0, "port " + strconv.Quote(p) + " of the Host header is not a number"
		}
		if n = n*10 + int(c-'0'); n > 65535 {
			return 0, "port " + strconv.Quote(p) + " of the Host header is out of range (1-65535)"
		}
	}
	if n == 0 {
		return 0, "port " + strconv.Quote(p) + " of the Host header is out of range (1-65535)"
	}
	return n, ""
}

// checkName says what is wrong with a host name, if anything: it must be
// at most 253 characters of labels of 1 to 63 letters, digits, hyphens and
// underscores (which service names use), separated by dots. The problem
// names host, the Host header it came from.
func checkName(name, host string) string {
	if len(name) > 253 {
		return "host name is " + strconv.Itoa(len(name)) + " characters long, over 253"
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i < len(name) {
			c := name[i]
			switch {
			case c == '.':
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_':
				continue
			default:
				return "host " + strconv.Quote(host) + " has a character that is not a letter, digit, '-', '_' or '.': " + strconv.Quote(name[i:i+1])
			}
		}
		switch n := i - start; {
		case n == 0:
			return "host " + strconv.Quote(host) + " has an empty label"
		case n > 63:
			return "host " + strconv.Quote(host) + " has a label of " + strconv.Itoa(n) + " characters, over 63"
		}
		start = i + 1
	}
	return ""
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}
