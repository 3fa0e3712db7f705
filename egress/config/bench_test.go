package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// write10k writes n ServiceEntries (two ports each, a DestinationRule every
// 100th) to one file.
func write10k(b *testing.B, n int) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, `---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: se-%d
  namespace: ns-%d
spec:
  hosts:
  - api-%d.example.test
  ports:
  - number: 80
    name: http
    protocol: HTTP
  - number: 443
    name: https
    protocol: HTTPS
  resolution: DNS
`, i, i%50, i)
		if i%100 == 0 {
			fmt.Fprintf(&sb, `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: dr-%d, namespace: ns-%d}
spec:
  host: api-%d.example.test
  trafficPolicy:
    connectionPool: {tcp: {connectTimeout: 5s}}
    portLevelSettings:
    - port: {number: 80}
      tls: {mode: SIMPLE}
`, i, i%50, i)
		}
	}
	f := filepath.Join(b.TempDir(), "se.yaml")
	if err := os.WriteFile(f, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return f
}

// BenchmarkCompile10k loads (reads, decodes, validates and compiles) 10,000 ServiceEntries.
func BenchmarkCompile10k(b *testing.B) {
	f := write10k(b, 10000)
	b.ResetTimer()
	for b.Loop() {
		s, err := Load([]string{f}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(s.Entries) != 10000 {
			b.Fatalf("%d entries", len(s.Entries))
		}
	}
}

// BenchmarkCompileOnly10k compiles 10,000 already decoded ServiceEntries (no YAML parsing).
func BenchmarkCompileOnly10k(b *testing.B) {
	data, err := os.ReadFile(write10k(b, 10000))
	if err != nil {
		b.Fatal(err)
	}
	var objs []*object
	decodeFile("se.yaml", data, &report{}, func(o *object) { objs = append(objs, o) })
	b.ResetTimer()
	for b.Loop() {
		r := &report{}
		s := newCompiler(Options{}.withDefaults(), r, nil).compile(objs)
		if err := r.err(); err != nil || len(s.Entries) != 10000 {
			b.Fatal(err)
		}
	}
}
