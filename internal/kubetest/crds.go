package kubetest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	out := c.Kubectl(t, "apply", "--server-side", "-f", IstioCRDs(t))
	want := max(strings.Count(out, "serverside-applied"), 1)
	// kubectl wait fails on a CRD whose status has no conditions yet:
	// poll, bounded, until every CRD is Established.
	deadline := time.Now().Add(60 * time.Second)
	for {
		est, err := c.KubectlErr("", "get", "crd", "-o", `jsonpath={range .items[*]}{.status.conditions[?(@.type=="Established")].status}{"\n"}{end}`)
		if err == nil && strings.Count(est, "True") >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubetest: Istio's CRDs not Established within 60s (%d of %d): %v", strings.Count(est, "True"), want, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
