package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/egressgw/egressgw/policy"
)

// Options are the settings that come from the gateway, not from the YAML.
type Options struct {
	ClusterDomain string            // default "cluster.local"
	Namespace     string            // gateway's own namespace, default "istio-system": fallback for credentialName Secrets
	Labels        map[string]string // egress gateway labels: egress Gateways' and AuthorizationPolicies' selectors are matched against these
	// IngressLabels are the ingress gateway's labels (default
	// istio=ingressgateway,app=istio-ingressgateway): a Gateway whose selector matches them is
	// served on the ingress side.
	IngressLabels map[string]string
	// EgressGatewayHosts are the names of the egress gateway's own Service
	// (default istio-egressgateway.<Namespace>.svc.<ClusterDomain>): a mesh
	// route to one is the hop into this gateway.
	EgressGatewayHosts []string
	Mode               policy.Mode
	// PodLabels returns the labels of the pod namespace/name, nil if it is
	// not known: DestinationRule subsets select a Service's endpoints by
	// the labels of the pods their EndpointSlices name (targetRef), as
	// Istio's do. nil (files only): Service endpoints carry no labels.
	PodLabels func(namespace, name string) map[string]string
	// TrustDomain is the trust domain of AuthorizationPolicy principals
	// ("<trustDomain>/ns/<namespace>/sa/<serviceAccount>"); default
	// "cluster.local". It is Istio's meshConfig.trustDomain, not the
	// cluster's DNS domain.
	TrustDomain string
	// RootNamespace is Istio's meshConfig.rootNamespace (default
	// "istio-system"): its AuthorizationPolicies apply gateway-wide, its
	// Sidecar without workloadSelector is the mesh default.
	RootNamespace string
}

func (o Options) withDefaults() Options {
	if o.ClusterDomain == "" {
		o.ClusterDomain = "cluster.local"
	}
	o.ClusterDomain = strings.Trim(strings.ToLower(o.ClusterDomain), ".")
	if o.Namespace == "" {
		o.Namespace = "istio-system"
	}
	if o.TrustDomain == "" {
		o.TrustDomain = policy.DefaultTrustDomain
	}
	if o.RootNamespace == "" {
		o.RootNamespace = "istio-system"
	}
	if o.IngressLabels == nil {
		// The labels of Istio's own ingress gateway pods, which the Gateways
		// of Istio's docs select (istio=ingressgateway, sometimes with app).
		o.IngressLabels = map[string]string{"istio": "ingressgateway", "app": "istio-ingressgateway"}
	}
	if o.EgressGatewayHosts == nil {
		o.EgressGatewayHosts = []string{"istio-egressgateway." + o.Namespace + ".svc." + o.ClusterDomain}
	}
	o.EgressGatewayHosts = slices.Clone(o.EgressGatewayHosts)
	for i, h := range o.EgressGatewayHosts {
		o.EgressGatewayHosts[i] = strings.TrimSuffix(strings.ToLower(h), ".")
	}
	return o
}

// Load reads every file in paths (a file, or a directory whose *.yaml and
// *.yml files are read in lexical order, names starting with '.' skipped)
// and compiles them into a Snapshot. If anything is wrong it returns an
// *Error listing every problem, and no Snapshot.
func Load(paths []string, opts Options) (*Snapshot, error) {
	snap, _, err := Compile(paths, nil, opts)
	return snap, err
}

// expandPaths lists the files to read: each path that is a file, and the
// YAML files directly inside each path that is a directory.
func expandPaths(paths []string, r *report) []string {
	var files []string
	seen := map[string]bool{}
	addFile := func(f string) {
		if k := filepath.Clean(f); !seen[k] {
			seen[k] = true
			files = append(files, f)
		}
	}
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			r.problem(p, "", "", "%v", err)
			continue
		}
		if !fi.IsDir() {
			addFile(p)
			continue
		}
		des, err := os.ReadDir(p) // sorted by name
		if err != nil {
			r.problem(p, "", "", "%v", err)
			continue
		}
		for _, de := range des {
			name := de.Name()
			if strings.HasPrefix(name, ".") || !isYAMLName(name) {
				continue
			}
			f := filepath.Join(p, name)
			fi, err := os.Stat(f) // follows ConfigMap symlinks
			if err != nil {
				r.problem(f, "", "", "%v", err)
				continue
			}
			if fi.Mode().IsRegular() {
				addFile(f)
			}
		}
	}
	return files
}

func isYAMLName(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}
