package config

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLocation: a MESH_INTERNAL ServiceEntry's entries are marked Internal
// (netguard does not vet their addresses); MESH_EXTERNAL, an omitted
// location and ExternalName Services are not.
func TestLocation(t *testing.T) {
	tests := []struct {
		name, location string
		want           bool
	}{
		{"omitted", "", false},
		{"MESH_EXTERNAL", "location: MESH_EXTERNAL", false},
		{"MESH_INTERNAL", "location: MESH_INTERNAL", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			yml := "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: x, namespace: default}\nspec:\n" +
				"  hosts: [x.example.test, y.example.test]\n  resolution: DNS\n  ports: [{number: 80, name: http}]\n  " + tt.location + "\n" +
				"---\napiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: default}\nspec: {type: ExternalName, externalName: ext.example.test, ports: [{port: 80, name: http}]}\n"
			if err := os.WriteFile(filepath.Join(dir, "se.yaml"), []byte(yml), 0o600); err != nil {
				t.Fatal(err)
			}
			s := mustLoad(t, Options{ClusterDomain: "cluster.local"}, dir)
			for _, h := range []string{"x.example.test", "y.example.test"} {
				if got := entryByHost(t, s, h).Internal; got != tt.want {
					t.Errorf("%s: Internal = %v, want %v", h, got, tt.want)
				}
			}
			if entryByHost(t, s, "ext.default.svc.cluster.local").Internal {
				t.Error("the ExternalName Service's entry is Internal, want not")
			}
		})
	}
}
