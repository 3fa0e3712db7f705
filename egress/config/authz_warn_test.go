package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWarnBroadDeny(t *testing.T) {
	tests := []struct {
		name     string
		rules    string
		wantWarn bool
	}{
		{name: "paths only", rules: `[{to: [{operation: {paths: ["/admin*"]}}]}]`, wantWarn: true},
		{name: "methods only", rules: `[{to: [{operation: {methods: [DELETE]}}]}]`, wantWarn: true},
		{name: "scoped by hosts", rules: `[{to: [{operation: {hosts: [api.example.test], paths: ["/admin*"]}}]}]`},
		{name: "scoped by ports", rules: `[{to: [{operation: {ports: ["80"], paths: ["/admin*"]}}]}]`},
		{name: "scoped by source", rules: `[{from: [{source: {ipBlocks: [10.0.0.0/8]}}], to: [{operation: {paths: ["/admin*"]}}]}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ap.yaml")
			yml := "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: deny}\nspec:\n  action: DENY\n  rules: " + tt.rules + "\n"
			if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
				t.Fatal(err)
			}
			s := mustLoad(t, Options{}, path)
			if got := hasWarning(s, "refuses every connection"); got != tt.wantWarn {
				t.Errorf("warned = %v, want %v; warnings %q", got, tt.wantWarn, s.Warnings)
			}
		})
	}
}
