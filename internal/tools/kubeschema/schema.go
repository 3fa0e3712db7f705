package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"sigs.k8s.io/yaml"
)

const refPrefix = "#/components/schemas/"

type gvk struct{ Group, Version, Kind string }

// path is where kubeconform's template looks for the kind's schema.
func (g gvk) path(dir string) string {
	group := g.Group
	if group == "" {
		group = g.Version // kubeconform's .Group of "v1" is "v1"
	}
	return filepath.Join(dir, group, strings.ToLower(g.Kind)+"_"+g.Version+".json")
}

// generate writes every kind's schema under out and returns how many.
func generate(openapiDir string, crdFiles []string, out string) (int, error) {
	defs, err := readOpenAPI(openapiDir)
	if err != nil {
		return 0, err
	}
	schemas := map[gvk]map[string]any{}
	for name, d := range defs {
		for _, k := range kindsOf(d) {
			schemas[k] = standalone(name, defs)
		}
	}
	for _, f := range crdFiles {
		crds, err := readCRDs(f)
		if err != nil {
			return 0, err
		}
		for k, s := range crds {
			schemas[k] = s
		}
	}
	if len(schemas) == 0 {
		return 0, fmt.Errorf("%s: no kinds found (want api/openapi-spec/v3)", openapiDir)
	}
	for k, s := range schemas {
		b, err := json.Marshal(s)
		if err != nil {
			return 0, fmt.Errorf("encode %v: %w", k, err)
		}
		p := k.path(out)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return 0, err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return 0, err
		}
	}
	return len(schemas), nil
}

// readOpenAPI merges the components.schemas of every *.json file in dir.
func readOpenAPI(dir string) (map[string]map[string]any, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("read OpenAPI spec: no *.json in %s", dir)
	}
	sort.Strings(files)
	defs := map[string]map[string]any{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read OpenAPI spec: %w", err)
		}
		var doc struct {
			Components struct {
				Schemas map[string]map[string]any `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("read OpenAPI spec %s: %w", f, err)
		}
		for n, s := range doc.Components.Schemas {
			defs[n] = s
		}
	}
	return defs, nil
}

// kindsOf lists the kinds a definition is the schema of.
func kindsOf(d map[string]any) []gvk {
	list, _ := d["x-kubernetes-group-version-kind"].([]any)
	var out []gvk
	for _, e := range list {
		m, _ := e.(map[string]any)
		g, _ := m["group"].(string)
		v, _ := m["version"].(string)
		k, _ := m["kind"].(string)
		if v != "" && k != "" {
			out = append(out, gvk{g, v, k})
		}
	}
	return out
}

// standalone is definition name as a document of its own: its fields at
// the root and every definition it reaches under components.schemas, where
// its "#/components/schemas/..." references resolve unchanged.
func standalone(name string, defs map[string]map[string]any) map[string]any {
	reached := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok && strings.HasPrefix(r, refPrefix) {
				n := strings.TrimPrefix(r, refPrefix)
				if !reached[n] {
					reached[n] = true
					walk(defs[n])
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(defs[name])
	comps := map[string]any{}
	for n := range reached {
		comps[n] = strict(deepCopy(defs[n]))
	}
	root := strict(deepCopy(defs[name])).(map[string]any)
	root["components"] = map[string]any{"schemas": comps}
	return root
}

// strict sets additionalProperties: false on every object schema in v that
// lists properties and neither says otherwise nor keeps unknown fields.
func strict(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			v[k] = strict(x)
		}
		props, isObj := v["properties"].(map[string]any)
		_, hasAP := v["additionalProperties"]
		keep, _ := v["x-kubernetes-preserve-unknown-fields"].(bool)
		// "properties" may itself be a property name inside a properties map;
		// a schema has a map of schemas there, which is what is checked.
		if isObj && !hasAP && !keep && allSchemas(props) {
			v["additionalProperties"] = false
		}
		return v
	case []any:
		for i, x := range v {
			v[i] = strict(x)
		}
	}
	return v
}

func allSchemas(props map[string]any) bool {
	for _, p := range props {
		if _, ok := p.(map[string]any); !ok {
			return false
		}
	}
	return true
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// readCRDs returns the schema of every served version of every
// CustomResourceDefinition in the multi-document YAML file. The root stays
// open (apiVersion, kind, metadata are the API server's), below it strict.
func readCRDs(file string) (map[gvk]map[string]any, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CRDs: %w", err)
	}
	out := map[gvk]map[string]any{}
	for i, doc := range bytes.Split(b, []byte("\n---")) {
		var crd struct {
			Kind string `json:"kind"`
			Spec struct {
				Group string `json:"group"`
				Names struct {
					Kind string `json:"kind"`
				} `json:"names"`
				Versions []struct {
					Name   string `json:"name"`
					Served bool   `json:"served"`
					Schema struct {
						OpenAPIV3Schema map[string]any `json:"openAPIV3Schema"`
					} `json:"schema"`
				} `json:"versions"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &crd); err != nil {
			return nil, fmt.Errorf("read CRDs %s: document %d: %w", file, i+1, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		for _, v := range crd.Spec.Versions {
			s := v.Schema.OpenAPIV3Schema
			if !v.Served || s == nil {
				continue
			}
			props, _ := s["properties"].(map[string]any)
			for k, p := range props {
				props[k] = strict(p)
			}
			out[gvk{crd.Spec.Group, v.Name, crd.Spec.Names.Kind}] = s
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read CRDs %s: no CustomResourceDefinition with a schema", file)
	}
	return out, nil
}
