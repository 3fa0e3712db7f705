// Package kubetest runs a real Kubernetes API server for tests: Debian's
// etcd and a kube-apiserver built from the Go module proxy by
// scripts/build-kube.sh (cached outside the repository). No kubelet, no
// controller manager, no scheduler: tests create the objects those would
// (pods with their status, EndpointSlices) themselves.
//
// Start skips the test when the binaries are missing, unless
// EGRESSGW_REQUIRE_KUBE=1 (scripts/test.sh sets it), which makes a missing
// binary a failure: CI never passes by skipping.
package kubetest

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	istioclient "istio.io/client-go/pkg/clientset/versioned"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Version is the Kubernetes release scripts/build-kube.sh builds by default.
const Version = "v1.37.2"

// AdminToken is the bearer token of the cluster's admin (group system:masters).
const AdminToken = "egressgw-test-admin-token"

// Cluster is a running etcd and kube-apiserver.
type Cluster struct {
	Kubeconfig string // admin kubeconfig file
	Config     *rest.Config
	Client     kubernetes.Interface
	Istio      istioclient.Interface
	URL        string // https://127.0.0.1:PORT

	bin, dir string
	etcdURL  string
	netns    string // "" for the test's own network namespace
	port     int
	mu       sync.Mutex
	etcd     *process
	api      *process
}

// BinDir is where the binaries are: EGRESSGW_KUBE_BIN, else the cache
// scripts/build-kube.sh fills.
func BinDir() string {
	if d := os.Getenv("EGRESSGW_KUBE_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("EGRESSGW_KUBE_CACHE")
	if cache == "" {
		cache = "/var/cache/egressgw-k8s"
	}
	return filepath.Join(cache, Version, "bin")
}

// Start starts etcd and kube-apiserver for t and stops them when t ends.
func Start(t testing.TB) *Cluster {
	t.Helper()
	return StartIn(t, "")
}

// StartIn is Start inside the network namespace netns (`ip netns add`),
// listening on its loopback: the clients of the Cluster, and Kubectl, dial
// into it.
func StartIn(t testing.TB, netns string) *Cluster {
	t.Helper()
	bin := BinDir()
	for _, p := range []string{filepath.Join(bin, "kube-apiserver"), filepath.Join(bin, "kubectl")} {
		if _, err := os.Stat(p); err != nil {
			if os.Getenv("EGRESSGW_REQUIRE_KUBE") == "1" {
				t.Fatalf("kubetest: %v (run scripts/build-kube.sh)", err)
			}
			t.Skipf("kubetest: %v: run scripts/build-kube.sh to build the API server (EGRESSGW_REQUIRE_KUBE=1 makes this a failure)", err)
		}
	}
	etcdBin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("EGRESSGW_REQUIRE_KUBE") == "1" {
			t.Fatalf("kubetest: etcd not found (apt-get install etcd-server): %v", err)
		}
		t.Skipf("kubetest: etcd not found (apt-get install etcd-server): %v", err)
	}
	c := &Cluster{bin: bin, dir: t.TempDir(), netns: netns}
	t.Cleanup(c.stop)
	if err := c.writeFiles(); err != nil {
		t.Fatal(err)
	}
	if err := c.startEtcd(etcdBin); err != nil {
		t.Fatal(err)
	}
	c.port = freePort(t)
	c.URL = fmt.Sprintf("https://127.0.0.1:%d", c.port)
	if err := c.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	if err := c.writeKubeconfig(); err != nil {
		t.Fatal(err)
	}
	c.Config, err = clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if netns != "" {
		c.Config.Dial = netnsDialer(netns)
	}
	// client-go's default of 5 requests a second would be most of what a
	// test that creates thousands of objects measures.
	c.Config.QPS, c.Config.Burst = 2000, 4000
	if c.Client, err = kubernetes.NewForConfig(c.Config); err != nil {
		t.Fatal(err)
	}
	if c.Istio, err = istioclient.NewForConfig(c.Config); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *Cluster) writeFiles() error {
	key, err := rsa.GenerateKey(crand.Reader, 2048)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(c.dir, "sa.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.dir, "tokens.csv"), []byte(AdminToken+",admin,admin,system:masters\n"), 0o600)
}

func (c *Cluster) startEtcd(etcdBin string) error {
	client, peer := freePortErr(), freePortErr()
	if client == 0 || peer == 0 {
		return fmt.Errorf("kubetest: no free port for etcd")
	}
	cu, pu := fmt.Sprintf("http://127.0.0.1:%d", client), fmt.Sprintf("http://127.0.0.1:%d", peer)
	p, err := c.startProcess(filepath.Join(c.dir, "etcd.log"), etcdBin,
		"--data-dir", filepath.Join(c.dir, "etcd"), "--name", "kubetest",
		"--listen-client-urls", cu, "--advertise-client-urls", cu,
		"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
		"--initial-cluster", "kubetest="+pu, "--unsafe-no-fsync")
	if err != nil {
		return err
	}
	c.etcd = p
	if err := c.waitHTTP(cu+"/health", nil, 30*time.Second, p); err != nil {
		return fmt.Errorf("kubetest: etcd did not become healthy: %w\n%s", err, tail(p.log, 20))
	}
	c.etcdURL = cu
	return nil
}

// StartAPIServer starts kube-apiserver (again, after StopAPIServer) on the
// cluster's port and waits until /readyz answers ok.
func (c *Cluster) StartAPIServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api != nil {
		return fmt.Errorf("kubetest: the API server is already running")
	}
	p, err := c.startProcess(filepath.Join(c.dir, "kube-apiserver.log"), filepath.Join(c.bin, "kube-apiserver"),
		"--etcd-servers", c.etcdURL,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(c.port),
		// A network namespace of the tests has no default route to take an
		// address from; no Endpoints for the "kubernetes" Service (a
		// loopback address would not validate), none are needed.
		"--advertise-address", "127.0.0.1", "--endpoint-reconciler-type", "none",
		"--cert-dir", filepath.Join(c.dir, "certs"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", filepath.Join(c.dir, "sa.key"),
		"--service-account-signing-key-file", filepath.Join(c.dir, "sa.key"),
		"--token-auth-file", filepath.Join(c.dir, "tokens.csv"),
		"--authorization-mode", "RBAC",
		"--service-cluster-ip-range", "10.96.0.0/16",
		// No controller manager creates the "default" ServiceAccount of
		// each namespace, so its admission plugin would refuse every pod.
		"--disable-admission-plugins", "ServiceAccount",
		"--enable-priority-and-fairness=false",
		"--profiling=false", "--v=1")
	if err != nil {
		return err
	}
	c.api = p
	hdr := http.Header{"Authorization": {"Bearer " + AdminToken}}
	if err := c.waitHTTP(fmt.Sprintf("https://127.0.0.1:%d/readyz", c.port), hdr, 90*time.Second, p); err != nil {
		return fmt.Errorf("kubetest: kube-apiserver did not become ready: %w\n%s", err, tail(p.log, 30))
	}
	return nil
}

// StopAPIServer stops kube-apiserver; etcd keeps running.
func (c *Cluster) StopAPIServer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.api != nil {
		c.api.stop()
		c.api = nil
	}
}

func (c *Cluster) stop() {
	c.StopAPIServer()
	if c.etcd != nil {
		c.etcd.stop()
	}
}

func (c *Cluster) writeKubeconfig() error {
	ca, err := os.ReadFile(filepath.Join(c.dir, "certs", "apiserver.crt"))
	if err != nil {
		return fmt.Errorf("kubetest: the API server's certificate: %w", err)
	}
	c.Kubeconfig = filepath.Join(c.dir, "admin.kubeconfig")
	return WriteKubeconfig(c.Kubeconfig, c.URL, ca, AdminToken)
}

// CA is the API server's self-signed serving certificate, the CA a
// kubeconfig for it names (valid for 127.0.0.1 and localhost).
func (c *Cluster) CA() ([]byte, error) {
	return os.ReadFile(filepath.Join(c.dir, "certs", "apiserver.crt"))
}

// Port is the API server's port.
func (c *Cluster) Port() int { return c.port }

// WriteKubeconfig writes a kubeconfig for server with a bearer token.
func WriteKubeconfig(path, server string, ca []byte, token string) error {
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: user
  user:
    token: %s
contexts:
- name: kubetest
  context: {cluster: kubetest, user: user}
current-context: kubetest
`, server, b64(ca), token)
	return os.WriteFile(path, []byte(cfg), 0o600)
}

// Kubectl runs kubectl against the cluster as the admin and returns its
// standard output; a failure fails t with kubectl's standard error.
func (c *Cluster) Kubectl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.KubectlErr("", args...)
	if err != nil {
		t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Apply applies YAML with kubectl apply -f -.
func (c *Cluster) Apply(t testing.TB, yaml string) string {
	t.Helper()
	out, err := c.KubectlErr(yaml, "apply", "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s", err, yaml)
	}
	return out
}

// KubectlErr runs kubectl with stdin, returning standard output, or an
// error holding standard error.
func (c *Cluster) KubectlErr(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	argv := append([]string{filepath.Join(c.bin, "kubectl"), "--kubeconfig", c.Kubeconfig}, args...)
	if c.netns != "" {
		argv = append([]string{"ip", "netns", "exec", c.netns}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// KubectlPath is the kubectl binary built with the API server.
func (c *Cluster) KubectlPath() string { return filepath.Join(c.bin, "kubectl") }

func freePort(t testing.TB) int {
	p := freePortErr()
	if p == 0 {
		t.Fatal("kubetest: no free port")
	}
	return p
}

func (c *Cluster) startProcess(logPath, bin string, args ...string) (*process, error) {
	if c.netns != "" {
		return startProcess(logPath, "ip", append([]string{"netns", "exec", c.netns, bin}, args...)...)
	}
	return startProcess(logPath, bin, args...)
}

func (c *Cluster) waitHTTP(url string, hdr http.Header, timeout time.Duration, p *process) error {
	var dial func(ctx context.Context, network, addr string) (net.Conn, error)
	if c.netns != "" {
		dial = netnsDialer(c.netns)
	}
	return waitHTTP(url, hdr, timeout, p, dial)
}

// freePortErr picks a free loopback port in 16000-19999: below the
// ephemeral range, where other tests' outgoing connections cannot take it
// between our close and the server's bind, apart from the 20000-31999 the
// engine's tests draw from and above the fixed ports of the e2e suite.
func freePortErr() int {
	for i := 0; i < 200; i++ {
		p := 16000 + rand.IntN(4000)
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			ln.Close()
			return p
		}
	}
	return 0
}
