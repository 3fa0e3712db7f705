package servercert

import (
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/egressgw/egressgw/route"
)

// BenchmarkSelect measures what a handshake costs this package: the
// server chosen by SNI among 50, and its certificate from the cache.
func BenchmarkSelect(b *testing.B) {
	ca, err := newCAB()
	if err != nil {
		b.Fatal(err)
	}
	core, _ := New(Config{Storage: b.TempDir()})
	defer core.Close()
	var specs []Spec
	for i := range 50 {
		host := fmt.Sprintf("host%d.example.com", i)
		leaf, err := ca.Issue(host, host)
		if err != nil {
			b.Fatal(err)
		}
		specs = append(specs, spec(443, fmt.Sprintf("spec.servers[%d]", i), simple(leaf, "files "+host), host))
	}
	if err := core.Update(specs); err != nil {
		b.Fatal(err)
	}
	cfg := core.TLSConfig(route.Ingress, 443)
	hello := &tls.ClientHelloInfo{ServerName: "host42.example.com"}
	b.ReportAllocs()
	for b.Loop() {
		sc, err := cfg.GetConfigForClient(hello)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := sc.GetCertificate(hello); err != nil {
			b.Fatal(err)
		}
	}
}
