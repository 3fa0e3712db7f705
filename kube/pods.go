package kube

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"strings"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/egressgw/egressgw/identity"
)

// identityDelay folds a burst of pod changes (a rollout) into one table.
const identityDelay = 200 * time.Millisecond

// podWatch builds the identity.Table from the Pod and Namespace informers.
type podWatch struct {
	log       *zap.Logger
	pods      cache.SharedIndexInformer
	nss       cache.SharedIndexInformer
	publishTo func(*identity.Table)
	dirty     chan struct{}
	// relabeled is told when a pod's labels change: DestinationRule
	// subsets select Service endpoints by them, so the configuration is
	// compiled again.
	relabeled func()
}

func newPodWatch(client kubernetes.Interface, log *zap.Logger, h *health, publish func(*identity.Table), relabeled func()) (*podWatch, error) {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(trimPod))
	w := &podWatch{log: log, pods: f.Core().V1().Pods().Informer(), nss: f.Core().V1().Namespaces().Informer(),
		publishTo: publish, dirty: make(chan struct{}, 1), relabeled: relabeled}
	poke := cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { h.contact(); w.poke() },
		UpdateFunc: func(old, cur any) {
			h.contact()
			w.poke()
			if o, ok := old.(*corev1.Pod); ok {
				if c, ok := cur.(*corev1.Pod); ok && !maps.Equal(o.Labels, c.Labels) {
					w.relabeled()
				}
			}
		},
		DeleteFunc: func(any) { h.contact(); w.poke() },
	}
	for what, inf := range map[string]cache.SharedIndexInformer{"pods": w.pods, "namespaces": w.nss} {
		if _, err := inf.AddEventHandler(poke); err != nil {
			return nil, fmt.Errorf("watch %s: %w", what, err)
		}
		h.watchErrors(inf, what, log)
	}
	return w, nil
}

func (w *podWatch) poke() {
	select {
	case w.dirty <- struct{}{}:
	default:
	}
}

func (w *podWatch) synced() bool { return w.pods.HasSynced() && w.nss.HasSynced() }

func (w *podWatch) start(ctx context.Context) {
	go w.pods.RunWithContext(ctx)
	go w.nss.RunWithContext(ctx)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-w.dirty:
			}
			if !w.synced() {
				continue // WaitForSync publishes the first table
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(identityDelay):
			}
			w.publish()
		}
	}()
}

// publish builds the table from the informers' stores and hands it on.
func (w *podWatch) publish() {
	if w.publishTo == nil {
		return
	}
	var pods []*identity.Pod
	for _, o := range w.pods.GetStore().List() {
		if p := podIdentity(o.(*corev1.Pod)); p != nil {
			pods = append(pods, p)
		}
	}
	nss := map[string]map[string]string{}
	for _, o := range w.nss.GetStore().List() {
		ns := o.(*corev1.Namespace)
		nss[ns.Name] = ns.Labels
	}
	w.publishTo(identity.NewTable(pods, nss))
}

// labels returns the labels of pod namespace/name, nil if it is not known.
func (w *podWatch) labels(namespace, name string) map[string]string {
	o, ok, err := w.pods.GetStore().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	if p, ok := o.(*corev1.Pod); ok {
		return p.Labels
	}
	return nil
}

// podIdentity is what a pod's address stands for, nil for a pod whose
// address is not its own: host-network pods share the node's, and a
// finished pod's address may already be another's.
func podIdentity(p *corev1.Pod) *identity.Pod {
	if p.Spec.HostNetwork || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return nil
	}
	var ips []netip.Addr
	for _, ip := range p.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			ips = append(ips, a)
		}
	}
	if len(ips) == 0 {
		if a, err := netip.ParseAddr(p.Status.PodIP); err == nil {
			ips = append(ips, a)
		}
	}
	if len(ips) == 0 {
		return nil
	}
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	return &identity.Pod{Namespace: p.Namespace, Name: p.Name, ServiceAccount: sa, Workload: workloadName(p), Labels: p.Labels, IPs: ips}
}

// workloadName is Istio's source_workload: a ReplicaSet owned by a
// Deployment names the Deployment (the ReplicaSet's name less its
// pod-template-hash), a Job made by a CronJob names the Job, else the
// controller's name, else the pod's.
func workloadName(p *corev1.Pod) string {
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return p.Name
	}
	if ref.Kind == "ReplicaSet" {
		if h := p.Labels["pod-template-hash"]; h != "" && strings.HasSuffix(ref.Name, "-"+h) {
			return strings.TrimSuffix(ref.Name, "-"+h)
		}
	}
	return ref.Name
}

// trimPod keeps only what identity needs of a pod: with thousands of pods,
// containers and status conditions would be most of the memory.
func trimPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return trimObject(obj)
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			Labels: p.Labels, OwnerReferences: p.OwnerReferences},
		Spec:   corev1.PodSpec{ServiceAccountName: p.Spec.ServiceAccountName, HostNetwork: p.Spec.HostNetwork, NodeName: p.Spec.NodeName},
		Status: corev1.PodStatus{Phase: p.Status.Phase, PodIP: p.Status.PodIP, PodIPs: p.Status.PodIPs},
	}, nil
}
