package kubetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// IstioCRDs is the path of the CustomResourceDefinitions istio.io/api
// ships, in the module cache of the version go.mod requires.
func IstioCRDs(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "istio.io/api").Output()
	if err != nil {
		t.Fatalf("kubetest: go list -m istio.io/api: %v", err)
	}
	p := filepath.Join(strings.TrimSpace(string(out)), "kubernetes", "customresourcedefinitions.gen.yaml")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("kubetest: Istio's CRDs: %v", err)
	}
	return p
}

// ApplyIstioCRDs installs Istio's CRDs and waits until they are served.
// Server-side apply: the largest CRDs do not fit the annotation that
// client-side apply keeps.
func (c *Cluster) ApplyIstioCRDs(t testing.TB) {
	t.Helper()
	c.Kubectl(t, "apply", "--server-side", "-f", IstioCRDs(t))
	c.Kubectl(t, "wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
}
