package kube

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
	networkingapi "istio.io/api/networking/v1"
	networking "istio.io/client-go/pkg/apis/networking/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/identity"
	"github.com/egressgw/egressgw/internal/kubetest"
)

// within polls cond every 50 ms until it holds or d passes.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func hosts(snap *config.Snapshot) string {
	var hs []string
	for _, e := range snap.Entries {
		hs = append(hs, e.Host)
	}
	return strings.Join(hs, ",")
}

func serviceEntry(name, host string, port uint32) *networking.ServiceEntry {
	se := &networking.ServiceEntry{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	se.Spec.Hosts = []string{host}
	se.Spec.Ports = []*networkingapi.ServicePort{{Number: port, Name: "tls", Protocol: "TLS"}}
	se.Spec.Resolution = networkingapi.ServiceEntry_DNS
	return se
}

// TestSourceFollowsTheAPIServer drives a Source against a real API server:
// objects created, updated and deleted reach the compile; a resource that
// does not validate gets an Event and leaves the rest serving; pods become
// the identity table; a Secret is watched once the configuration names
// it; and the API server stopped and started again loses nothing.
func TestSourceFollowsTheAPIServer(t *testing.T) {
	c := kubetest.Start(t)
	c.ApplyIstioCRDs(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ids atomic.Pointer[identity.Table]
	src, err := New(Options{Config: c.Config, Log: zaptest.NewLogger(t), Node: "node-1", OnIdentities: func(tab *identity.Table) { ids.Store(tab) }})
	if err != nil {
		t.Fatal(err)
	}
	if m := src.Missing(); len(m) != 0 {
		t.Fatalf("Missing() = %v with Istio's CRDs installed", m)
	}
	src.Start(ctx)
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	if err := src.WaitForSync(sctx); err != nil {
		t.Fatal(err)
	}
	compile := func() (*config.Snapshot, []config.Skipped) {
		objs := src.Objects()
		snap, skipped, err := config.Compile(nil, objs, config.Options{})
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}
		src.Report(objs, skipped)
		src.WantSecrets(snap.SecretRefs)
		return snap, skipped
	}
	ses := c.Istio.NetworkingV1().ServiceEntries("default")
	if _, err := ses.Create(ctx, serviceEntry("one", "one.example.com", 443), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "the created ServiceEntry compiled", func() bool {
		snap, _ := compile()
		return hosts(snap) == "one.example.com"
	})

	// A protocol Istio's CRD schema lets through (a free string) but
	// egressgw does not know.
	bad := serviceEntry("bad", "bad.example.com", 443)
	bad.Spec.Ports[0].Protocol = "FOO"
	if _, err := ses.Create(ctx, bad, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var skipped []config.Skipped
	within(t, 10*time.Second, "the invalid ServiceEntry skipped", func() bool {
		var snap *config.Snapshot
		snap, skipped = compile()
		return len(skipped) == 1 && hosts(snap) == "one.example.com"
	})
	if !strings.Contains(skipped[0].Problems[0].Field, "spec.ports[0].protocol") {
		t.Errorf("skipped: %v, want the problem at spec.ports[0]", skipped[0].Problems)
	}
	within(t, 10*time.Second, "a Warning Event on the invalid ServiceEntry", func() bool {
		evs, err := c.Client.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=bad"})
		if err != nil || len(evs.Items) == 0 {
			return false
		}
		e := evs.Items[0]
		if e.Reason != ReasonInvalid || e.Type != corev1.EventTypeWarning || e.InvolvedObject.Kind != "ServiceEntry" || !strings.Contains(e.Message, "spec.ports[0]") {
			t.Fatalf("event %+v: want a Warning %s on the ServiceEntry naming spec.ports[0]", e, ReasonInvalid)
		}
		return true
	})

	// Delete: the host leaves the compile.
	if err := ses.Delete(ctx, "one", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "the deleted ServiceEntry gone", func() bool {
		snap, _ := compile()
		return hosts(snap) == ""
	})

	// A pod with an address becomes an identity.
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "sleep-7d9c-abcde", Namespace: "default", Labels: map[string]string{"app": "sleep", "pod-template-hash": "7d9c"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "sleep-7d9c", UID: "u1", Controller: ptr(true)}}},
		Spec: corev1.PodSpec{ServiceAccountName: "sleep", NodeName: "node-1", Containers: []corev1.Container{{Name: "c", Image: "sleep"}}}}
	created, err := c.Client.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.PodRunning
	created.Status.PodIP = "10.244.0.7"
	created.Status.PodIPs = []corev1.PodIP{{IP: "10.244.0.7"}}
	if _, err := c.Client.CoreV1().Pods("default").UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, 10*time.Second, "the pod in the identity table", func() bool {
		p := ids.Load().Lookup(mustAddr("10.244.0.7"))
		return p != nil && p.Name == "sleep-7d9c-abcde" && p.ServiceAccount == "sleep" && p.Workload == "sleep"
	})

	// Its labels are there for DestinationRule subsets, and a change of
	// them asks for a compile.
	if got := src.PodLabels("default", "sleep-7d9c-abcde")["app"]; got != "sleep" {
		t.Errorf("PodLabels app = %q, want sleep", got)
	}
	time.Sleep(300 * time.Millisecond) // the pod's own events have poked by now
	select {
	case <-src.Changed():
	default:
	}
	if _, err := c.KubectlErr("", "label", "pod", "-n", "default", "sleep-7d9c-abcde", "version=v2"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-src.Changed():
	case <-time.After(10 * time.Second):
		t.Fatal("a pod's labels changed and Changed did not say so")
	}
	within(t, 10*time.Second, "the new label read", func() bool { return src.PodLabels("default", "sleep-7d9c-abcde")["version"] == "v2" })

	// A Secret named by a credentialName is watched; one that is not, is not read.
	dr := `{"apiVersion":"networking.istio.io/v1","kind":"DestinationRule","metadata":{"name":"mtls","namespace":"default"},
"spec":{"host":"bad.example.com","trafficPolicy":{"tls":{"mode":"MUTUAL","credentialName":"client"}}}}`
	if _, err := c.KubectlErr(dr, "apply", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"client", "unrelated"} {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}, Data: map[string][]byte{"tls.crt": []byte("x"), "tls.key": []byte("y")}}
		if _, err := c.Client.CoreV1().Secrets("default").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	within(t, 10*time.Second, "the referenced Secret read, the other not", func() bool {
		compile()
		var names []string
		for _, o := range src.Objects() {
			var m meta
			_ = json.Unmarshal(o.JSON, &m)
			if m.Kind == "Secret" {
				names = append(names, m.Metadata.Name)
			}
		}
		return strings.Join(names, ",") == "client"
	})

	// The API server stops: the objects seen stay; changes made while it
	// is away arrive once it is back.
	c.StopAPIServer()
	if snap, _ := compile(); hosts(snap) != "" || len(src.Objects()) == 0 {
		t.Fatalf("with the API server stopped: hosts %q, %d objects; want the last objects kept", hosts(snap), len(src.Objects()))
	}
	if err := c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if _, err := ses.Create(ctx, serviceEntry("two", "two.example.com", 443), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, 60*time.Second, "a ServiceEntry created after the restart compiled", func() bool {
		snap, _ := compile()
		return hosts(snap) == "two.example.com"
	})
	if age := src.Staleness(); age > time.Minute {
		t.Errorf("Staleness() = %v after the API server came back", age)
	}
}

func ptr[T any](v T) *T { return &v }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

// TestSourceCRDsInstalledLater: without Istio's CRDs every Istio kind is
// missing and the Source still syncs (Services, pods); once the CRDs are
// installed, NowServed names them.
func TestSourceCRDsInstalledLater(t *testing.T) {
	c := kubetest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := New(Options{Config: c.Config, Log: zaptest.NewLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(src.Missing()); got != len(istioKinds) {
		t.Fatalf("Missing() = %v without Istio's CRDs, want all %d Istio kinds", src.Missing(), len(istioKinds))
	}
	src.Start(ctx)
	sctx, scancel := context.WithTimeout(ctx, time.Minute)
	defer scancel()
	if err := src.WaitForSync(sctx); err != nil {
		t.Fatalf("WaitForSync without Istio's CRDs: %v", err)
	}
	if now := src.NowServed(); len(now) != 0 {
		t.Fatalf("NowServed() = %v before the CRDs are installed", now)
	}
	c.ApplyIstioCRDs(t)
	within(t, 30*time.Second, "NowServed names every Istio kind", func() bool { return len(src.NowServed()) == len(istioKinds) })
}
