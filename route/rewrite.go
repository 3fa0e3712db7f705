package route

import (
	"net/http"
	"strconv"
	"strings"
)

// Path returns the request path after the rewrite. A uri rewrite replaces
// the prefix that m matched (Envoy's prefix_rewrite), or the whole path
// when m matched it exactly, by regex, or not by URI at all; a
// uriRegexRewrite replaces every match of its regex. m is the match that
// selected the route (nil: none).
func (rw *Rewrite) Path(path string, m *Match) string {
	if rw == nil {
		return path
	}
	if rw.Regex != nil {
		return rw.Regex.ReplaceAllString(path, rw.RegexSub)
	}
	if rw.URI == "" {
		return path
	}
	if m != nil && m.URI.Kind == MatchPrefix && len(path) >= len(m.URI.Value) {
		return rw.URI + path[len(m.URI.Value):]
	}
	return rw.URI
}

// Location is the Location header of a redirect for a request to
// scheme://host:port/path?query: each field the redirect sets replaces the
// request's. The port is left out when it is the scheme's default; when
// the redirect changes the scheme and sets no port, the new scheme's
// default is used (an httpsRedirect of http://h:80/ goes to https://h/).
func (rd *Redirect) Location(scheme, host string, port uint32, path, query string) string {
	newScheme := scheme
	if rd.Scheme != "" {
		newScheme = rd.Scheme
	}
	if rd.Authority != "" {
		host = rd.Authority
	}
	switch {
	case rd.Port != 0:
		port = rd.Port
	case rd.DerivePort == DeriveFromRequestPort:
	case rd.DerivePort == DeriveFromProtocolDefault || newScheme != scheme:
		port = defaultPort(newScheme)
	}
	if rd.URI != "" {
		path = rd.URI
		if strings.IndexByte(path, '?') >= 0 {
			query = "" // the redirect's own query replaces the request's
		}
	}
	b := make([]byte, 0, len(newScheme)+len(host)+len(path)+len(query)+10)
	b = append(b, newScheme...)
	b = append(b, "://"...)
	b = append(b, host...)
	if port != 0 && port != defaultPort(newScheme) {
		b = append(b, ':')
		b = strconv.AppendUint(b, uint64(port), 10)
	}
	b = append(b, path...)
	if query != "" {
		b = append(b, '?')
		b = append(b, query...)
	}
	return string(b)
}

func defaultPort(scheme string) uint32 {
	switch scheme {
	case "http":
		return 80
	case "https":
		return 443
	}
	return 0
}

// StatusCode is the redirect's status: Code, or 301 when unset.
func (rd *Redirect) StatusCode() int {
	if rd.Code == 0 {
		return http.StatusMovedPermanently
	}
	return rd.Code
}

// Apply edits h in Envoy's order: removals first, then set (replace), then
// add (append).
func (e *HeaderEdit) Apply(h http.Header) {
	if e == nil {
		return
	}
	for _, k := range e.Remove {
		delete(h, k)
	}
	for _, s := range e.Set {
		if s.values != nil {
			h[s.Name] = s.values
		} else {
			h[s.Name] = []string{s.Value}
		}
	}
	for _, a := range e.Add {
		h[a.Name] = append(h[a.Name], a.Value)
	}
}
