package origination

import "net/http"

// staticEntry is an entry of HPACK's static table (RFC 7541 Appendix A).
type staticEntry struct {
	name, value string
	canonical   string // name as an http.Header key; "" for pseudo-headers
	pseudo      bool
	badName     bool   // a dynamic entry whose name HTTP/2 forbids
	badValue    bool   // a dynamic entry whose value HTTP forbids
	size        uint32 // name, value and 32, as header list sizes count a field
}

// staticTable is HPACK's static table; index i is staticTable[i-1].
var staticTable = func() []staticEntry {
	t := []staticEntry{
		{name: ":authority"}, {name: ":method", value: "GET"}, {name: ":method", value: "POST"},
		{name: ":path", value: "/"}, {name: ":path", value: "/index.html"},
		{name: ":scheme", value: "http"}, {name: ":scheme", value: "https"},
		{name: ":status", value: "200"}, {name: ":status", value: "204"}, {name: ":status", value: "206"},
		{name: ":status", value: "304"}, {name: ":status", value: "400"}, {name: ":status", value: "404"},
		{name: ":status", value: "500"},
		{name: "accept-charset"}, {name: "accept-encoding", value: "gzip, deflate"}, {name: "accept-language"},
		{name: "accept-ranges"}, {name: "accept"}, {name: "access-control-allow-origin"}, {name: "age"},
		{name: "allow"}, {name: "authorization"}, {name: "cache-control"}, {name: "content-disposition"},
		{name: "content-encoding"}, {name: "content-language"}, {name: "content-length"},
		{name: "content-location"}, {name: "content-range"}, {name: "content-type"}, {name: "cookie"},
		{name: "date"}, {name: "etag"}, {name: "expect"}, {name: "expires"}, {name: "from"}, {name: "host"},
		{name: "if-match"}, {name: "if-modified-since"}, {name: "if-none-match"}, {name: "if-range"},
		{name: "if-unmodified-since"}, {name: "last-modified"}, {name: "link"}, {name: "location"},
		{name: "max-forwards"}, {name: "proxy-authenticate"}, {name: "proxy-authorization"}, {name: "range"},
		{name: "referer"}, {name: "refresh"}, {name: "retry-after"}, {name: "server"}, {name: "set-cookie"},
		{name: "strict-transport-security"}, {name: "transfer-encoding"}, {name: "user-agent"}, {name: "vary"},
		{name: "via"}, {name: "www-authenticate"},
	}
	for i := range t {
		e := &t[i]
		e.size = uint32(len(e.name)+len(e.value)) + 32
		if e.pseudo = e.name[0] == ':'; !e.pseudo {
			e.canonical = http.CanonicalHeaderKey(e.name)
		}
	}
	return t
}()
