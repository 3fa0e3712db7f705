package egress

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestEngineTCP forwards a server-first TCP protocol: the gateway must not
// wait for the client to speak before dialling.
func TestEngineTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprint(c, "220 db ready\n")
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	gwPort := freePort(t)
	dir := t.TempDir()
	yml := fmt.Sprintf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: db}
spec:
  hosts: [db.example.test]
  resolution: STATIC
  endpoints: [{address: 127.0.0.1}]
  ports: [{number: %s, name: tcp, protocol: TCP, targetPort: %s}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: only-lan}
spec:
  action: ALLOW
  rules: [{from: [{source: {ipBlocks: [127.0.0.0/8]}}], to: [{operation: {ports: ["%s"]}}]}]
`, gwPort, port("https://"+ln.Addr().String()), gwPort)
	if err := os.WriteFile(filepath.Join(dir, "db.yaml"), []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	startEngine(t, dir)
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+gwPort, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	greeting := make([]byte, len("220 db ready\n"))
	if _, err := io.ReadFull(c, greeting); err != nil || string(greeting) != "220 db ready\n" {
		t.Fatalf("greeting %q, %v: the server-first banner did not come through", greeting, err)
	}
	fmt.Fprint(c, "PING")
	echo := make([]byte, 4)
	if _, err := io.ReadFull(c, echo); err != nil || string(echo) != "PING" {
		t.Fatalf("echo %q, %v", echo, err)
	}
}
