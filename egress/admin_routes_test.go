package egress

import (
	"testing"

	"github.com/egressgw/egressgw/route"
)

// TestTLSModeNames: /config_dump names every server TLS mode.
func TestTLSModeNames(t *testing.T) {
	for _, tc := range []struct {
		mode route.TLSMode
		want string
	}{
		{route.TLSNone, "none"},
		{route.TLSSimple, "SIMPLE"},
		{route.TLSMutual, "MUTUAL"},
		{route.TLSPassthrough, "PASSTHROUGH"},
		{route.TLSAcceptPlaintext, "ISTIO_MUTUAL (the pod's plaintext accepted)"},
		{route.TLSOptionalMutual, "OPTIONAL_MUTUAL"},
	} {
		if got := tlsModeName(tc.mode); got != tc.want {
			t.Errorf("tlsModeName(%d) = %q, want %q", tc.mode, got, tc.want)
		}
	}
}
