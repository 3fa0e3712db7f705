package egress

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestIsGRPC(t *testing.T) {
	for _, tc := range []struct {
		ct   string
		want bool
	}{
		{"application/grpc", true},
		{"application/grpc+proto", true},
		{"application/grpc;charset=utf-8", true},
		{"application/grpc-web", false},
		{"application/grpcx", false},
		{"application/json", false},
		{"", false},
	} {
		r := httptest.NewRequest("POST", "/svc/Method", nil)
		if tc.ct != "" {
			r.Header.Set("Content-Type", tc.ct)
		}
		if got := isGRPC(r); got != tc.want {
			t.Errorf("content-type %q: got %v, want %v", tc.ct, got, tc.want)
		}
	}
}

func TestGRPCMessage(t *testing.T) {
	for in, want := range map[string]string{
		"denied by rule": "denied by rule",
		"100% sure":      "100%25 sure",
		"line\nbreak":    "line%0Abreak",
		"caf\u00e9":      "caf%C3%A9",
		"":               "",
	} {
		if got := grpcMessage(in); got != want {
			t.Errorf("grpcMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestRefuseGRPC: a refusal of a gRPC call is a trailers-only gRPC answer
// whose status says what the HTTP status would have, and the access log
// keeps the HTTP status.
func TestRefuseGRPC(t *testing.T) {
	for _, tc := range []struct {
		status int
		code   string
	}{
		{http.StatusForbidden, "7"},
		{http.StatusServiceUnavailable, "14"},
		{http.StatusBadGateway, "14"},
		{http.StatusGatewayTimeout, "4"},
		{http.StatusNotFound, "12"},
	} {
		w := httptest.NewRecorder()
		rec := &recorder{ResponseWriter: w, grpc: true}
		refuse(rec, tc.status, "egressgw: no")
		if w.Code != http.StatusOK || w.Header().Get("Grpc-Status") != tc.code || w.Header().Get("Grpc-Message") != "egressgw: no" ||
			w.Header().Get("Content-Type") != "application/grpc" || w.Body.Len() != 0 {
			t.Errorf("%d: got status %d headers %v body %q, want 200 grpc-status %s and no body", tc.status, w.Code, w.Header(), w.Body, tc.code)
		}
		if rec.status != tc.status {
			t.Errorf("%d: recorder status %d, want the HTTP status it stands for", tc.status, rec.status)
		}
	}
}
