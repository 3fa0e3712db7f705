package servercert_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"

	"github.com/egressgw/egressgw/internal/pki"
	"github.com/egressgw/egressgw/route"
	"github.com/egressgw/egressgw/servercert"
)

// The engine makes one Manager, calls Update with every TLS-terminating
// server of each new configuration, gives each listener the tls.Config of
// TLSConfig, asks HandleHTTPChallenge first on ingress port-80 requests,
// and shows Certificates in /config_dump.
func Example() {
	dir, _ := os.MkdirTemp("", "servercert-example")
	defer os.RemoveAll(dir)
	m, err := servercert.New(servercert.Config{Storage: dir})
	if err != nil {
		panic(err)
	}
	defer m.Close()

	ca, _ := pki.NewCA("example ca")
	leaf, _ := ca.Issue("httpbin.example.com", "httpbin.example.com")
	err = m.Update([]servercert.Spec{{Side: route.Ingress, Port: 443, Server: &route.Server{
		Gateway: "istio-system/mygateway", Field: "spec.servers[0]", Hosts: []string{"httpbin.example.com"},
		TLS: &route.ServerTLS{Mode: route.TLSSimple, CertPEM: leaf.CertPEM, KeyPEM: leaf.KeyPEM,
			Source: "Secret istio-system/httpbin-credential", Fingerprint: "v1"},
	}}})
	if err != nil {
		panic(err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := tls.NewListener(ln, m.TLSConfig(route.Ingress, 443)).Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{ServerName: "httpbin.example.com", RootCAs: ca.Pool()})
	if err != nil {
		panic(err)
	}
	fmt.Println("served:", c.ConnectionState().PeerCertificates[0].Subject.CommonName)
	c.Close()

	for _, ci := range m.Certificates() {
		fmt.Println(ci.Side, ci.Port, ci.Server, ci.Hosts, ci.Source, ci.Status)
	}
	// Output:
	// served: httpbin.example.com
	// ingress 443 Gateway istio-system/mygateway spec.servers[0] [httpbin.example.com] Secret istio-system/httpbin-credential serving
}
