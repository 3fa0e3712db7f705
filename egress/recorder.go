package egress

import (
	"net/http"
	"sync"

	"github.com/egressgw/egressgw/route"
)

// recorder notes what the handler and the proxy sent, for the access log.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	note   string // error cause, when there was one
	rule   string // the rule that refused the request after the policy allowed it (netguard); "" if none
	reset  bool   // the client's HTTP/2 stream is to be reset, once the request is logged (passReset)
	grpc   bool   // a gRPC call: the gateway's own refusals are gRPC status
	client client // the connection's source pod

	// the route the request followed, for the access log; nil without one
	server    *route.Server
	route     *route.HTTPRoute
	respEdits [3]*route.HeaderEdit // the route's, the destination's and CORS's response header edits
	// outerEdits are the response edits of the mesh route that made the
	// hop into the egress gateway (serveRoute): applied after respEdits.
	outerEdits [3]*route.HeaderEdit
	setCookie  string // a Set-Cookie to add to the response: a consistent hash's generated cookie
}

// noteRoute records the route res found, for the access log.
func (r *recorder) noteRoute(res route.Result) {
	r.server, r.route = res.Server, res.Route
}

// editResponse applies the route's response header edits to h.
func (r *recorder) editResponse(h http.Header) {
	for _, e := range r.respEdits {
		if e != nil {
			e.Apply(h)
		}
	}
	for _, e := range r.outerEdits {
		if e != nil {
			e.Apply(h)
		}
	}
	if r.setCookie != "" {
		h["Set-Cookie"] = append(h["Set-Cookie"], r.setCookie)
	}
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
		if code >= 200 {
			r.editResponse(r.ResponseWriter.Header())
		}
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
		r.editResponse(r.ResponseWriter.Header())
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

var recorders = sync.Pool{New: func() any { return new(recorder) }}

func getRecorder(w http.ResponseWriter) *recorder {
	r := recorders.Get().(*recorder)
	*r = recorder{ResponseWriter: w}
	return r
}

func putRecorder(r *recorder) {
	*r = recorder{}
	recorders.Put(r)
}
