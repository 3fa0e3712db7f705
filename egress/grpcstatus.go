package egress

import (
	"net/http"
	"strconv"
	"strings"
)

// gRPC status codes the gateway's own answers map to.
const (
	grpcUnknown          = 2
	grpcDeadlineExceeded = 4
	grpcPermissionDenied = 7
	grpcResourceExhaust  = 8
	grpcInternal         = 13
	grpcUnimplemented    = 12
	grpcUnavailable      = 14
	grpcUnauthenticated  = 16
)

// isGRPC reports whether r is a gRPC call: the gateway's own refusals and
// failures are then answered as gRPC status, as Envoy does, since a gRPC
// client reads no HTTP status.
func isGRPC(r *http.Request) bool {
	ct := r.Header["Content-Type"]
	return len(ct) > 0 && strings.HasPrefix(ct[0], "application/grpc") &&
		(len(ct[0]) == len("application/grpc") || ct[0][len("application/grpc")] == '+' || ct[0][len("application/grpc")] == ';')
}

// grpcCode maps the HTTP status of one of the gateway's own answers to a
// gRPC status: a deny is PERMISSION_DENIED, a timeout DEADLINE_EXCEEDED,
// an unreachable upstream UNAVAILABLE (Envoy's mapping otherwise).
func grpcCode(status int) int {
	switch status {
	case http.StatusBadRequest:
		return grpcInternal
	case http.StatusUnauthorized:
		return grpcUnauthenticated
	case http.StatusForbidden:
		return grpcPermissionDenied
	case http.StatusNotFound:
		return grpcUnimplemented
	case http.StatusRequestTimeout, http.StatusGatewayTimeout:
		return grpcDeadlineExceeded
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable:
		return grpcUnavailable
	case http.StatusRequestHeaderFieldsTooLarge:
		return grpcResourceExhaust
	}
	return grpcUnknown
}

// writeGRPCStatus answers with a trailers-only gRPC response: status 200,
// grpc-status and grpc-message in the only HEADERS frame.
func writeGRPCStatus(w *recorder, status int, msg string) {
	h := w.Header()
	delete(h, "Content-Length")
	delete(h, "Connection")
	h.Set("Content-Type", "application/grpc")
	h.Set("Grpc-Status", strconv.Itoa(grpcCode(status)))
	h.Set("Grpc-Message", grpcMessage(msg))
	w.WriteHeader(http.StatusOK)
	w.status = status // the access log keeps the HTTP status the answer stands for
}

// grpcMessage percent-encodes msg as grpc-message requires (bytes outside
// printable ASCII, and '%').
func grpcMessage(msg string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(msg); i++ {
		c := msg[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			if b != nil {
				b = append(b, c)
			}
			continue
		}
		if b == nil {
			b = append(make([]byte, 0, len(msg)+16), msg[:i]...)
		}
		b = append(b, '%', hex[c>>4], hex[c&15])
	}
	if b == nil {
		return msg
	}
	return string(b)
}
