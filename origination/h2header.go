package origination

import (
	"net/http"
	"strconv"
	"strings"
)

// commonHeaders maps the canonical and lower-case forms of common header
// names both ways, so that converting them allocates nothing.
var commonLower, commonCanonical = func() (map[string]string, map[string]string) {
	names := []string{
		"Accept", "Accept-Charset", "Accept-Encoding", "Accept-Language", "Accept-Ranges", "Age",
		"Access-Control-Allow-Credentials", "Access-Control-Allow-Headers", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Origin", "Access-Control-Expose-Headers", "Access-Control-Max-Age",
		"Access-Control-Request-Headers", "Access-Control-Request-Method", "Allow", "Authorization",
		"Cache-Control", "Content-Disposition", "Content-Encoding", "Content-Language", "Content-Length",
		"Content-Location", "Content-Range", "Content-Type", "Cookie", "Date", "Etag", "Expect", "Expires",
		"From", "Grpc-Encoding", "Grpc-Message", "Grpc-Status", "Grpc-Timeout", "Host", "If-Match",
		"If-Modified-Since", "If-None-Match", "If-Range", "If-Unmodified-Since", "Last-Modified", "Link",
		"Location", "Max-Forwards", "Origin", "Proxy-Authenticate", "Proxy-Authorization", "Range", "Referer",
		"Refresh", "Retry-After", "Server", "Set-Cookie", "Strict-Transport-Security", "Trailer",
		"User-Agent", "Vary", "Via", "Www-Authenticate", "X-Content-Type-Options", "X-Frame-Options",
		"X-Request-Id", "X-Requested-With",
	}
	lower, canon := make(map[string]string, len(names)), make(map[string]string, len(names))
	for _, n := range names {
		l := strings.ToLower(n)
		lower[n], canon[l] = l, n
	}
	return lower, canon
}()

// lowerHeader is k as HTTP/2 sends header names.
func lowerHeader(k string) string {
	if l, ok := commonLower[k]; ok {
		return l
	}
	return strings.ToLower(k)
}

// statusLines holds "200 OK" and the like, as http.Response.Status has them.
var statusLines = func() [600]string {
	var t [600]string
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			t[code] = strconv.Itoa(code) + " " + text
		}
	}
	return t
}()

func statusLine(code int) string {
	if code < len(statusLines) && statusLines[code] != "" {
		return statusLines[code]
	}
	return strconv.Itoa(code) + " " // no reason phrase, which HTTP/1.1 allows
}
