package config

import (
	"os"
	"path/filepath"
	"testing"
)

func TestDeclaredHTTP2(t *testing.T) {
	path := filepath.Join(t.TempDir(), "se.yaml")
	yml := `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: rpc}
spec:
  hosts: [rpc.example.test]
  ports:
  - {number: 80, name: http, protocol: HTTP}
  - {number: 81, name: x, protocol: GRPC}
  - {number: 82, name: http2-api}
  - {number: 83, name: grpc-web}
  - {number: 84, name: h, protocol: HTTP2}
`
	if err := os.WriteFile(path, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	s := mustLoad(t, Options{}, path)
	want := map[uint32]bool{80: false, 81: true, 82: true, 83: true, 84: true}
	for n, w := range want {
		if got := port(t, &s.Entries[0], n).HTTP2; got != w {
			t.Errorf("port %d: HTTP2 = %v, want %v", n, got, w)
		}
	}
}
