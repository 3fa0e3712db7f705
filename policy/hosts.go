package policy

import (
	"errors"
	"fmt"
	"strings"
)

// maxNameLen is the longest DNS name in text form, without the trailing dot.
const maxNameLen = 253

// ValidateHost checks a registry host pattern: a lowercase DNS name such as
// "api.example.com", or one with a leading wildcard label, "*.example.com".
func ValidateHost(h string) error {
	if h == "" {
		return errors.New("host is empty")
	}
	if h == "*" {
		return errors.New(`a lone "*" is not allowed; use "*.example.com"`)
	}
	if len(h) > maxNameLen {
		return fmt.Errorf("longer than %d characters", maxNameLen)
	}
	name := strings.TrimPrefix(h, "*.")
	if strings.Contains(name, "*") {
		return errors.New(`"*" is only allowed as the whole first label, as in "*.example.com"`)
	}
	if strings.HasSuffix(name, ".") {
		return errors.New("must not end with a dot")
	}
	for label := range strings.SplitSeq(name, ".") {
		if err := ValidateLabel(label); err != nil {
			return err
		}
	}
	return nil
}

// ValidateLabel checks one DNS-1123 label, as Istio does for hosts.
func ValidateLabel(l string) error {
	switch {
	case l == "":
		return errors.New("empty label")
	case len(l) > 63:
		return fmt.Errorf("label %q is longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Errorf("label %q starts or ends with %q", l, "-")
	}
	for i := 0; i < len(l); i++ {
		switch c := l[i]; {
		case 'A' <= c && c <= 'Z':
			return errors.New("must be lowercase")
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-':
		default:
			return fmt.Errorf("label %q has character %q (letters, digits and '-' only)", l, c)
		}
	}
	return nil
}

// A name is a host being looked up: lowercase, without a trailing dot. It
// is either the caller's string or a copy folded into a stack buffer.
type name interface{ ~string | ~[]byte }

// cleanName returns host without its trailing dot, and whether it needs
// folding to lowercase. It reports false in ok for a name that is empty or
// longer than maxNameLen. (Empty labels are caught by find.)
func cleanName(host string) (n string, fold, ok bool) {
	if l := len(host); l > 0 && host[l-1] == '.' {
		host = host[:l-1]
	}
	if host == "" || len(host) > maxNameLen {
		return "", false, false
	}
	return host, hasUpper(host), true
}

// hasUpper reports whether s has an ASCII upper-case letter.
func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i]-'A' < 26 {
			return true
		}
	}
	return false
}

// foldName copies name, lowercased, into buf, and returns the used part.
func foldName(buf *[maxNameLen]byte, name string) []byte {
	b := buf[:len(name)]
	for i := range b {
		b[i] = lowerASCII(name[i])
	}
	return b
}

func lowerASCII(c byte) byte {
	if c-'A' < 26 {
		return c + 'a' - 'A'
	}
	return c
}

// hostIndex finds the most specific registered host pattern for a name.
type hostIndex struct {
	exact    map[string][]portEntry // "api.example.com"
	wild     map[string][]portEntry // "example.com", from "*.example.com"
	wildLens [4]uint64              // bit n: some wild key is n bytes long
}

// portEntry says that a host is registered on port by entry.
type portEntry struct {
	port  uint32
	entry int32
}

func newHostIndex() *hostIndex {
	return &hostIndex{exact: map[string][]portEntry{}, wild: map[string][]portEntry{}}
}

// add registers host on port for entry i unless an earlier entry has that
// host on that port (oldest wins).
func (x *hostIndex) add(host string, port uint32, i int) {
	m, key := x.exact, host
	if s, ok := strings.CutPrefix(host, "*."); ok {
		m, key = x.wild, s
		x.wildLens[len(s)/64] |= 1 << (len(s) % 64)
	}
	for _, pe := range m[key] {
		if pe.port == port {
			return
		}
	}
	m[key] = append(m[key], portEntry{port: port, entry: int32(i)})
}

// find returns the entry that registers name on port: an exact match, else
// the longest wildcard suffix. Port 0 means any port. registered reports
// whether name is registered on any port. A name with an empty label
// matches nothing: no key has one, and the wildcard walk stops at it. find
// does not allocate.
func find[N name](x *hostIndex, name N, port uint32) (entry int, ok, registered bool) {
	if pes, hit := x.exact[string(name)]; hit {
		if i, ok := onPort(pes, port); ok {
			return i, true, true
		}
		registered = true
	}
	if len(x.wild) == 0 {
		return -1, false, registered
	}
	for j := 0; j < len(name); j++ {
		if name[j] != '.' {
			continue
		}
		if j == 0 || name[j-1] == '.' {
			return -1, false, false
		}
		if n := len(name) - j - 1; x.wildLens[n/64]&(1<<(n%64)) == 0 {
			continue
		}
		if pes, hit := x.wild[string(name[j+1:])]; hit {
			if i, ok := onPort(pes, port); ok {
				return i, true, true
			}
			registered = true
		}
	}
	return -1, false, registered
}

func onPort(pes []portEntry, port uint32) (int, bool) {
	for _, pe := range pes {
		if pe.port == port || port == 0 {
			return int(pe.entry), true
		}
	}
	return -1, false
}
