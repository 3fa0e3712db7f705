package kubetest

import (
	"context"
	"strings"
	"testing"
	"time"

	networking "istio.io/client-go/pkg/apis/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestCluster starts the API server, installs Istio's CRDs, creates a
// ServiceEntry through the typed client and reads it with kubectl, then
// restarts the API server and finds the object still there.
func TestCluster(t *testing.T) {
	c := Start(t)
	c.ApplyIstioCRDs(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	se := &networking.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Name: "cnn", Namespace: "default"}}
	se.Spec.Hosts = []string{"edition.cnn.com"}
	if _, err := c.Istio.NetworkingV1().ServiceEntries("default").Create(ctx, se, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create ServiceEntry: %v", err)
	}
	if out := c.Kubectl(t, "get", "serviceentry", "cnn", "-o", "jsonpath={.spec.hosts[0]}"); out != "edition.cnn.com" {
		t.Fatalf("kubectl get serviceentry: %q, want edition.cnn.com", out)
	}
	c.StopAPIServer()
	if _, err := c.KubectlErr("", "get", "ns"); err == nil {
		t.Fatal("kubectl get ns succeeded with the API server stopped")
	}
	if err := c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if out := c.Kubectl(t, "get", "serviceentries.networking.istio.io", "-A", "-o", "name"); !strings.Contains(out, "serviceentry.networking.istio.io/cnn") {
		t.Fatalf("after a restart: %q, want the ServiceEntry", out)
	}
}
