package egress

import (
	"net/http"
	"strings"

	"github.com/egressgw/egressgw/route"
)

// corsOrigin returns r's Origin when the route's corsPolicy allows it, "" otherwise.
func corsOrigin(c *route.CORS, r *http.Request) string {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return ""
	}
	for _, m := range c.AllowOrigins {
		if stringMatch(&m, origin) {
			return origin
		}
	}
	return ""
}

// stringMatch applies a compiled StringMatch to v (case as compiled).
func stringMatch(m *route.StringMatch, v string) bool {
	switch m.Kind {
	case route.MatchExact:
		return v == m.Value
	case route.MatchPrefix:
		return strings.HasPrefix(v, m.Value)
	case route.MatchRegex:
		return m.Re != nil && m.Re.MatchString(v)
	}
	return true
}

// corsPreflight answers a CORS preflight for an allowed origin itself, as
// Envoy's CORS filter does, and reports whether r was one.
func corsPreflight(c *route.CORS, rec *recorder, r *http.Request, origin string) bool {
	if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
		return false
	}
	h := rec.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	if c.AllowMethods != "" {
		h.Set("Access-Control-Allow-Methods", c.AllowMethods)
	}
	if c.AllowHeaders != "" {
		h.Set("Access-Control-Allow-Headers", c.AllowHeaders)
	}
	if c.MaxAge != "" {
		h.Set("Access-Control-Max-Age", c.MaxAge)
	}
	if c.AllowCredentials {
		h.Set("Access-Control-Allow-Credentials", "true")
	}
	h.Set("Content-Length", "0")
	rec.WriteHeader(http.StatusOK)
	return true
}

// corsResponse is the response edit that lets origin read an actual response.
func corsResponse(c *route.CORS, origin string) *route.HeaderEdit {
	e := &route.HeaderEdit{Set: []route.Header{{Name: "Access-Control-Allow-Origin", Value: origin}}}
	if c.AllowCredentials {
		e.Set = append(e.Set, route.Header{Name: "Access-Control-Allow-Credentials", Value: "true"})
	}
	if c.ExposeHeaders != "" {
		e.Set = append(e.Set, route.Header{Name: "Access-Control-Expose-Headers", Value: c.ExposeHeaders})
	}
	return e
}
