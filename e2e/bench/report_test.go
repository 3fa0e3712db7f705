//go:build linux

package main

import (
	"strings"
	"testing"
)

// TestRenderRatios checks the ratio columns: egressgw's median over the
// best peer's and over the direct path's, and no ratio (not 0.00×) where
// egressgw has no figure, as when it is left out of a part.
func TestRenderRatios(t *testing.T) {
	tests := []struct {
		name    string
		samples map[string][]float64
		want    string // the row's cells after the figure's name
	}{
		{"egressgw measured", map[string][]float64{"egressgw": {30}, "nginx": {20}, "caddy": {15}, "direct": {60}},
			" 30.0 | 20.0 | | 15.0 | | | 60.0 | 1.50× | 0.50× | ≥ 1.0× best peer | yes |"},
		{"egressgw left out", map[string][]float64{"nginx": {20}, "haproxy": {25}, "direct": {60}},
			" | 20.0 | 25.0 | | | | 60.0 | – | – | ≥ 1.0× best peer |  |"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &report{}
			tb := r.newTable("Ingress", "setup", nil)
			tb.row("req/s", higher, "≥ 1.0× best peer", atLeast(1))
			for peer, vs := range tt.samples {
				for _, v := range vs {
					tb.add("req/s", peer, v)
				}
			}
			var b strings.Builder
			r.renderTable(&b)
			want := "| Ingress | req/s |" + tt.want + "\n"
			if !strings.Contains(b.String(), want) {
				t.Errorf("table:\n%s\nwant the row\n%s", b.String(), want)
			}
		})
	}
}
