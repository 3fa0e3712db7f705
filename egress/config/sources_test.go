package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func apiObj(t *testing.T, y string) APIObject {
	t.Helper()
	j, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return APIObject{JSON: j}
}

const apiSE = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: %s, namespace: default}
spec:
  hosts: [%s]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
`

func se(name, host string) string {
	return strings.NewReplacer("%s", name).Replace(apiSE[:strings.Index(apiSE, "%s]")]) + host + apiSE[strings.Index(apiSE, "%s]")+2:]
}

func TestCompileSkipsInvalidAPIResources(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.yaml")
	if err := os.WriteFile(file, []byte(se("from-file", "file.example.com")), 0o644); err != nil {
		t.Fatal(err)
	}
	good := apiObj(t, se("good", "good.example.com"))
	bad := apiObj(t, strings.Replace(se("bad", "bad.example.com"), "number: 443", "number: 70000", 1))
	dup := apiObj(t, se("from-file", "other.example.com"))
	garbage := APIObject{JSON: []byte(`{"apiVersion":"v1","kind":"Service","metadata":{"namespace":"default"}}`)}
	snap, skipped, err := Compile([]string{file}, []APIObject{good, bad, dup, garbage}, Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var hosts []string
	for _, e := range snap.Entries {
		hosts = append(hosts, e.Host)
	}
	if got, want := strings.Join(hosts, ","), "file.example.com,good.example.com"; got != want {
		t.Errorf("served hosts %s, want %s", got, want)
	}
	want := map[int]string{ // index -> a word every problem of the skipped resource has
		1: "spec.ports[0].number",
		2: "defined twice: in the API server and in " + file,
		3: "metadata.name",
	}
	if len(skipped) != len(want) {
		t.Fatalf("skipped %d resources (%v), want %d", len(skipped), skipped, len(want))
	}
	for _, s := range skipped {
		w, ok := want[s.Index]
		if !ok || len(s.Problems) == 0 {
			t.Errorf("skipped %d %s: %v, not expected", s.Index, s.Resource, s.Problems)
			continue
		}
		if got := s.Problems[0].String(); !strings.Contains(got, w) {
			t.Errorf("skipped %d: %q, want it to contain %q", s.Index, got, w)
		}
	}
}

func TestCompileFileProblemRejectsAll(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file.yaml")
	if err := os.WriteFile(file, []byte(strings.Replace(se("f", "f.example.com"), "number: 443", "number: 0", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	snap, _, err := Compile([]string{file}, []APIObject{apiObj(t, se("good", "good.example.com"))}, Options{})
	if err == nil || snap != nil {
		t.Fatalf("Compile with a bad file = %v, %v; want an error and no snapshot", snap, err)
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("error %q does not name the file", err)
	}
}

func TestSnapshotSecretRefs(t *testing.T) {
	dr := apiObj(t, `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr, namespace: app}
spec:
  host: good.example.com
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-cert}}
`)
	snap, skipped, err := Compile(nil, []APIObject{apiObj(t, se("good", "good.example.com")), dr}, Options{Namespace: "istio-system"})
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 1 || !strings.Contains(skipped[0].Problems[0].Msg, "app/client-cert not found") {
		t.Errorf("skipped = %v, want the DestinationRule, its Secret not found", skipped)
	}
	got := strings.Join(snap.SecretRefs, " ")
	for _, w := range []string{"app/client-cert", "istio-system/client-cert", "app/client-cert-cacert"} {
		if !strings.Contains(got, w) {
			t.Errorf("SecretRefs %q lacks %s", got, w)
		}
	}
}
