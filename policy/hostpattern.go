package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// hostPattern is an AuthorizationPolicy host: a pattern, optionally with
// ":*" (any port) or ":PORT" (only that port). "*" is kept as the suffix "".
//
// Hosts are compared 8 bytes at a time, lowercased once per request (see
// request.words): word holds the bytes of s at its anchored end (its end,
// or its start for a prefix), placed and masked as in request.words[side],
// and far the 8 bytes at its other end. Together they are all of a pattern
// of up to 16 bytes, and the word alone rejects most hosts.
type hostPattern struct {
	pattern
	port       uint32 // 0: any port
	side       uint8  // 0: word is the tail of s; 1 (prefix): its head
	simple     bool   // any port, and s fits in word: a matching word is a match
	extra      uint   // how many more bytes than s a host may have: 0 if exact
	word, mask uint64
	far        uint64 // when s is longer than 8 bytes
}

func compileHost(v string) (hostPattern, error) {
	if v == "" {
		return hostPattern{}, errors.New("empty value")
	}
	v = strings.ToLower(v)
	var hp hostPattern
	if i := strings.LastIndexByte(v, ':'); i >= 0 {
		h, p := v[:i], v[i+1:]
		if strings.Contains(h, ":") && !(strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]")) {
			return hostPattern{}, errors.New("an IPv6 address must be in brackets")
		}
		if p != "*" {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || n == 0 {
				return hostPattern{}, fmt.Errorf("port %q: must be 1..65535 or %q", p, "*")
			}
			hp.port = uint32(n)
		}
		v = h
	}
	if strings.ContainsAny(v, " /") {
		return hostPattern{}, errors.New("not a host name")
	}
	var err error
	if hp.pattern, err = compilePattern(v); err != nil {
		return hostPattern{}, err
	}
	n := len(hp.s)
	hp.simple = hp.port == 0 && n <= 8
	hp.extra = ^uint(0) >> 1 // a shorter host is then a huge difference
	switch hp.kind {
	case matchAny:
		hp.kind = matchSuffix // of "": every host ends with it
	case matchExact:
		hp.extra = 0
	}
	tail, head := hostWords(hp.s)
	if hp.kind == matchPrefix {
		hp.side = 1
		hp.word, hp.mask = head, ^uint64(0)>>(64-8*min(n, 8))
		hp.far = tail // when n > 8
	} else {
		hp.word, hp.mask = tail, ^uint64(0)<<(64-8*min(n, 8))
		hp.far = head
	}
	return hp, nil
}

// hostWords returns the last and the first (up to) 8 bytes of s,
// lowercased, as little-endian numbers; the last byte of s is in the top
// byte of tail, and its first byte in the low byte of head.
func hostWords(s string) (tail, head uint64) {
	if len(s) >= 8 {
		return lower64(load64(s[len(s)-8:])), lower64(load64(s))
	}
	head = lower64(loadShort(s, 0, len(s)))
	return head << (64 - 8*len(s)), head
}

// nextHost returns the index of the first of hs, from i on, whose word and
// length fit req's host, or len(hs). It is inlined, so that most patterns
// are rejected without a call.
func nextHost(hs []hostPattern, i int, req *request) int {
	for ; i < len(hs); i++ {
		h := &hs[i]
		if req.words[h.side&1]&h.mask == h.word && uint(len(req.host)-len(h.s)) <= h.extra {
			return i
		}
	}
	return len(hs)
}

// matchRest reports whether h matches req's host and port, given that its
// word and length do.
func (h *hostPattern) matchRest(req *request) bool {
	if h.port != 0 && h.port != req.q.Port {
		return false
	}
	host, n := req.host, len(h.s)
	if n <= 8 {
		return true
	}
	at := 0 // where s is in host
	if h.side == 0 {
		at = len(host) - n
	}
	far := at // where far is in host
	if h.side == 1 {
		far = n - 8
	}
	return lower64(load64(host[far:])) == h.far && (n <= 16 || equalLower(host[at+8:at+n-8], h.s[8:n-8]))
}
