package config

import (
	"testing"
	"time"

	networking "istio.io/api/networking/v1alpha3"
)

// TestGoDurations: Istio's docs write durations as Go does ("500ms", "3m");
// protojson takes only seconds ("0.5s"). Both load.
func TestGoDurations(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{{"2s", 2 * time.Second}, {"500ms", 500 * time.Millisecond}, {"3m", 3 * time.Minute}, {"1h30m", 90 * time.Minute}, {"0.25s", 250 * time.Millisecond}} {
		var r networking.HTTPRoute
		if err := unmarshalSpec([]byte(`{"timeout":"`+tc.in+`","headers":{"request":{"set":{"timeout":"5m"}}}}`), &r); err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := r.Timeout.AsDuration(); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.in, got, tc.want)
		}
		if v := r.Headers.Request.Set["timeout"]; v != "5m" {
			t.Errorf("%s: a header value named timeout was rewritten to %q", tc.in, v)
		}
	}
	var r networking.HTTPRoute
	if err := unmarshalSpec([]byte(`{"timeout":"soon"}`), &r); err == nil {
		t.Error(`"soon" accepted as a duration`)
	}
}
