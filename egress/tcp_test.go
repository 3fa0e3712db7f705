package egress

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/policy"
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
	snap, err := config.Load([]string{dir}, config.Options{Mode: policy.RegistryOnly})
	if err != nil {
		t.Fatal(err)
	}
	eng := New(Config{EgressAddr: netip.MustParseAddr("127.0.0.1"), Resolver: loopbackResolver{}, Log: zap.NewNop(),
		Metrics: NewMetrics(prometheus.NewRegistry())})
	if err := eng.Update(snap); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Shutdown(ctx)
	}()
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
