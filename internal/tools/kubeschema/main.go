// Command kubeschema makes the JSON schemas kubeconform validates manifests
// against, offline: one file per kind and version, from the Kubernetes
// OpenAPI v3 spec (k8s.io/kubernetes's api/openapi-spec/v3) and from
// CustomResourceDefinitions (Istio's, in istio.io/api's
// kubernetes/customresource-definitions.gen.yaml). Files are laid out for
// kubeconform's
//
//	-schema-location 'DIR/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json'
//
// (Group is the apiVersion's group, "v1" for the core group). Every object
// schema that lists its properties gets additionalProperties: false, unless
// it keeps unknown fields (x-kubernetes-preserve-unknown-fields), so an
// unknown or misplaced field fails validation, as the API server's strict
// field validation would.
//
// scripts/test.sh runs it into a cache outside the repository.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	openapi := flag.String("openapi", "", "directory of the Kubernetes OpenAPI v3 spec (api/openapi-spec/v3)")
	out := flag.String("out", "", "directory to write the schemas to")
	var crds listFlag
	flag.Var(&crds, "crds", "YAML file of CustomResourceDefinitions (repeatable)")
	flag.Parse()
	if *openapi == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "kubeschema: -openapi and -out are required")
		os.Exit(2)
	}
	n, err := generate(*openapi, crds, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kubeschema:", err)
		os.Exit(1)
	}
	fmt.Printf("kubeschema: %d schemas in %s\n", n, *out)
}

type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }
