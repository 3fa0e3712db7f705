package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestGenerate(t *testing.T) {
	dir := t.TempDir()
	spec := `{"components": {"schemas": {
	  "a.Thing": {"x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Thing"}],
	    "properties": {"spec": {"allOf": [{"$ref": "#/components/schemas/a.Spec"}]}, "apiVersion": {"type": "string"}}},
	  "a.Spec": {"properties": {"port": {"allOf": [{"$ref": "#/components/schemas/a.IntOrString"}]}, "loop": {"$ref": "#/components/schemas/a.Spec"}}},
	  "a.IntOrString": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
	  "a.Unused": {"properties": {"x": {"type": "string"}}},
	  "core.Pod": {"x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Pod"}],
	    "properties": {"free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true, "properties": {"k": {"type": "string"}}}}}
	}}}`
	if err := os.WriteFile(filepath.Join(dir, "api.json"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	crd := `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
spec:
  group: networking.istio.io
  names: {kind: ServiceEntry}
  versions:
  - name: v1
    served: true
    schema:
      openAPIV3Schema:
        properties:
          spec: {type: object, properties: {hosts: {type: array}}}
  - name: v1alpha2
    served: false
    schema: {openAPIV3Schema: {properties: {}}}
`
	if err := os.WriteFile(filepath.Join(dir, "crds.yaml"), []byte(crd), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	n, err := generate(dir, []string{filepath.Join(dir, "crds.yaml")}, out)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("%d schemas, want 3 (Thing, Pod, ServiceEntry v1; not the unserved version)", n)
	}
	read := func(p string) map[string]any {
		b, err := os.ReadFile(filepath.Join(out, p))
		if err != nil {
			t.Fatalf("want %s (kubeconform's {{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json): %v", p, err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	thing := read("apps/thing_v1.json")
	comps := thing["components"].(map[string]any)["schemas"].(map[string]any)
	var names []string
	for n := range comps {
		names = append(names, n)
	}
	if len(comps) != 2 || comps["a.Spec"] == nil || comps["a.IntOrString"] == nil {
		t.Errorf("Thing's components %v: want exactly what it reaches, a.Spec and a.IntOrString (a cycle followed once)", names)
	}
	if thing["additionalProperties"] != false || comps["a.Spec"].(map[string]any)["additionalProperties"] != false {
		t.Error("object schemas with properties: want additionalProperties false")
	}
	if _, ok := comps["a.IntOrString"].(map[string]any)["additionalProperties"]; ok {
		t.Error("a schema without properties got additionalProperties")
	}
	pod := read("v1/pod_v1.json")
	free := pod["properties"].(map[string]any)["free"].(map[string]any)
	if _, ok := free["additionalProperties"]; ok {
		t.Error("x-kubernetes-preserve-unknown-fields object made strict")
	}
	se := read("networking.istio.io/serviceentry_v1.json")
	if _, ok := se["additionalProperties"]; ok {
		t.Error("a CRD's root made strict: apiVersion, kind and metadata are not in its schema")
	}
	want := map[string]any{"type": "object", "properties": map[string]any{"hosts": map[string]any{"type": "array"}}, "additionalProperties": false}
	if got := se["properties"].(map[string]any)["spec"]; !reflect.DeepEqual(got, want) {
		t.Errorf("ServiceEntry spec schema %v, want %v", got, want)
	}
}

func TestGenerateErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := generate(dir, nil, filepath.Join(dir, "out")); err == nil {
		t.Error("no spec files: want an error")
	}
}
