package kube

import (
	"fmt"
	"slices"

	istioinformers "istio.io/client-go/pkg/informers/externalversions"
	"k8s.io/apimachinery/pkg/runtime/schema"
	discoveryclient "k8s.io/client-go/discovery"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// kind is one watched resource type whose objects go into the compile.
type kind struct {
	apiVersion string // of the JSON handed to the compiler, as a file would say it
	kind       string
	gvr        schema.GroupVersionResource
	informer   cache.SharedIndexInformer
}

// istioKind is an Istio kind and the versions Istio serves it in, the
// preferred first. Every version is the same stored object (Istio's CRDs
// convert nothing), so watching one served version sees them all.
type istioKind struct {
	group, resource, kind string
	versions              []string
}

var istioKinds = []istioKind{
	{"networking.istio.io", "serviceentries", "ServiceEntry", []string{"v1", "v1beta1", "v1alpha3"}},
	{"networking.istio.io", "destinationrules", "DestinationRule", []string{"v1", "v1beta1", "v1alpha3"}},
	{"networking.istio.io", "gateways", "Gateway", []string{"v1", "v1beta1", "v1alpha3"}},
	{"networking.istio.io", "virtualservices", "VirtualService", []string{"v1", "v1beta1", "v1alpha3"}},
	{"networking.istio.io", "sidecars", "Sidecar", []string{"v1", "v1beta1", "v1alpha3"}},
	{"security.istio.io", "authorizationpolicies", "AuthorizationPolicy", []string{"v1", "v1beta1"}},
}

// coreKinds are the Kubernetes kinds that go into the compile. Endpoints
// (deprecated since 1.33) is not among them: kube-controller-manager
// mirrors a selector-less Service's Endpoints into EndpointSlices.
var coreKinds = []struct {
	gvr        schema.GroupVersionResource
	apiVersion string
	kind       string
}{
	{schema.GroupVersionResource{Version: "v1", Resource: "services"}, "v1", "Service"},
	{schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}, "discovery.k8s.io/v1", "EndpointSlice"},
}

// discovery answers which resources a group version serves, asking the
// API server once per group version (the Istio kinds share two groups).
type discovery struct {
	dc   discoveryclient.DiscoveryInterface
	seen map[string][]string // "group/version" -> resource names; nil: not served
}

func newDiscovery(dc discoveryclient.DiscoveryInterface) *discovery {
	return &discovery{dc: dc, seen: map[string][]string{}}
}

// served returns the first version of k the API server serves, "" if none
// (Istio's CRDs are not installed).
func (d *discovery) served(k istioKind) string {
	for _, v := range k.versions {
		gv := k.group + "/" + v
		names, ok := d.seen[gv]
		if !ok {
			if rl, err := d.dc.ServerResourcesForGroupVersion(gv); err == nil {
				for _, r := range rl.APIResources {
					names = append(names, r.Name)
				}
			}
			d.seen[gv] = names
		}
		if slices.Contains(names, k.resource) {
			return v
		}
	}
	return ""
}

// buildKinds makes the informers of every kind the API server serves.
// missing lists the Istio kinds it does not.
func buildKinds(dc discoveryclient.DiscoveryInterface, core informers.SharedInformerFactory, istio istioinformers.SharedInformerFactory) (kinds []*kind, missing []string, err error) {
	for _, c := range coreKinds {
		gi, err := core.ForResource(c.gvr)
		if err != nil {
			return nil, nil, fmt.Errorf("informer for %s: %w", c.gvr, err)
		}
		kinds = append(kinds, &kind{apiVersion: c.apiVersion, kind: c.kind, gvr: c.gvr, informer: gi.Informer()})
	}
	d := newDiscovery(dc)
	for _, ik := range istioKinds {
		v := d.served(ik)
		if v == "" {
			missing = append(missing, ik.kind)
			continue
		}
		gvr := schema.GroupVersionResource{Group: ik.group, Version: v, Resource: ik.resource}
		gi, err := istio.ForResource(gvr)
		if err != nil {
			return nil, nil, fmt.Errorf("informer for %s: %w", gvr, err)
		}
		kinds = append(kinds, &kind{apiVersion: ik.group + "/" + v, kind: ik.kind, gvr: gvr, informer: gi.Informer()})
	}
	return kinds, missing, nil
}
