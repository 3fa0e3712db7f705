//go:build e2e && linux

package e2e

import (
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/egressgw/egressgw/internal/kubetest"
)

// kubeWorld is a real API server in the node namespace, and a cuttable
// TCP proxy in front of it through which egressgw reads it.
type kubeWorld struct {
	c          *kubetest.Cluster
	proxy      *cutProxy
	kubeconfig string // egressgw's: through the proxy
}

func startKube(t *testing.T, tp *topology) *kubeWorld {
	t.Helper()
	kw := startKubeWithoutCRDs(t, tp)
	kw.c.ApplyIstioCRDs(t)
	return kw
}

// startKubeWithoutCRDs is startKube on an API server without Istio's CRDs.
func startKubeWithoutCRDs(t *testing.T, tp *topology) *kubeWorld {
	t.Helper()
	c := kubetest.StartIn(t, tp.node)
	ca, err := c.CA()
	if err != nil {
		t.Fatal(err)
	}
	p := startCutProxy(t, tp.node, fmt.Sprintf("127.0.0.1:%d", c.Port()))
	kw := &kubeWorld{c: c, proxy: p, kubeconfig: filepath.Join(tp.dir, "egressgw.kubeconfig")}
	if err := kubetest.WriteKubeconfig(kw.kubeconfig, "https://"+p.addr, ca, kubetest.AdminToken); err != nil {
		t.Fatal(err)
	}
	return kw
}

// addPod creates a running pod of namespace ns holding address ip, its
// status written as a kubelet would (there is no kubelet).
func (kw *kubeWorld) addPod(t *testing.T, ns, name, ip string) {
	t.Helper()
	kw.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {app: sleep}}
spec:
  serviceAccountName: sleep
  nodeName: node-1
  containers: [{name: sleep, image: curlimages/curl}]
`, name, ns))
	patch := fmt.Sprintf(`{"status":{"phase":"Running","podIP":%q,"podIPs":[{"ip":%q}]}}`, ip, ip)
	kw.c.Kubectl(t, "patch", "pod", name, "-n", ns, "--subresource", "status", "--type", "merge", "-p", patch)
}

// apply applies YAML with kubectl and fails t if kubectl does.
func (kw *kubeWorld) apply(t *testing.T, yaml string) {
	t.Helper()
	kw.c.Apply(t, yaml)
}

// within polls f every 100 ms until it returns nil or d passes, and
// returns how long it took.
func within(t *testing.T, d time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	if err := poll(d, 100*time.Millisecond, f); err != nil {
		t.Fatalf("%s: not within %v: %v", what, d, err)
	}
	return time.Since(start)
}

func resolves(tp *topology, name string) error {
	r := tp.dig(tp.pod, "+short", "@"+egressAddr, name, "A")
	if got := strings.TrimSpace(r.stdout); got != egressAddr {
		return fmt.Errorf("dig %s: %q, want %s", name, got, egressAddr)
	}
	return nil
}

func blocked(tp *topology, name string) error {
	r := tp.dig(tp.pod, "@"+egressAddr, name, "A")
	if !strings.Contains(r.stdout, "status: NXDOMAIN") || !strings.Contains(r.stdout, "EDE: 15 (Blocked)") {
		return fmt.Errorf("dig %s: want NXDOMAIN with EDE 15 (Blocked)\n%s", name, r)
	}
	return nil
}

const kubeNewHost = `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: new-host, namespace: default}
spec:
  hosts: [new.example.test]
  ports: [{number: 443, name: https, protocol: HTTPS}]
  resolution: DNS
  location: MESH_EXTERNAL
`

// TestKubeSource runs egressgw with a real API server as its only source
// of configuration: DNS and forwarding follow kubectl's creates, updates
// and deletes within seconds; an invalid resource gets an Event and
// disturbs nothing; with the API server stopped, traffic flows on; with
// egressgw cut off from a running API server, the changes made meanwhile
// arrive once it is back.
func TestKubeSource(t *testing.T) {
	tp := env(t)
	kw := startKube(t, tp)
	// The pod is a pod of namespace default: the AuthorizationPolicy of
	// default (api-example.yaml) guards it.
	kw.addPod(t, "default", "sleep", podAddr)
	gw := tp.startGatewaySpec(t, gatewayBinary(t, tp), gatewaySpec{name: "kube", mode: "REGISTRY_ONLY",
		configs: map[string]string{"README.yaml": "# this gateway's configuration comes from the API server\n"},
		args:    []string{"--kubeconfig", kw.kubeconfig, "--node-name", "node-1", "--kube-max-staleness", "15s"}})

	t.Run("create", func(t *testing.T) {
		if err := blocked(tp, "new.example.test"); err != nil {
			t.Fatal(err)
		}
		kw.apply(t, kubeNewHost)
		took := within(t, 10*time.Second, "kubectl apply to DNS answering", func() error { return resolves(tp, "new.example.test") })
		t.Logf("ServiceEntry applied to DNS answering: %v", took.Round(time.Millisecond))
		wantResponse(t, tp.podCurl("--cacert", tp.pki.caFile, "https://new.example.test/kube"), 200, "new.example.test sni=new.example.test")
	})
	t.Run("update_and_policy", func(t *testing.T) {
		kw.apply(t, tp.renderTestdata(t, "config/api-example.yaml"))
		within(t, 10*time.Second, "TLS origination applied", func() error {
			if r := tp.podCurl("http://api.example.test/kube"); r.status != 200 || !strings.Contains(r.body, "api.example.test") {
				return fmt.Errorf("%s", r)
			}
			return nil
		})
		// kubectl applies the file's documents one after the other: the
		// AuthorizationPolicy may arrive a compile after the rest.
		within(t, 10*time.Second, "the AuthorizationPolicy applied", func() error {
			if r := tp.podCurl("http://api.example.test/admin"); r.status != 403 || !strings.Contains(r.body, "AuthorizationPolicy default/deny-admin") {
				return fmt.Errorf("%s", r)
			}
			return nil
		})
	})
	t.Run("invalid_resource_gets_an_event", func(t *testing.T) {
		kw.apply(t, strings.NewReplacer("new-host", "bad-protocol", "new.example.test", "other.example.test", "protocol: HTTPS", "protocol: FOO").Replace(kubeNewHost))
		within(t, 10*time.Second, "a Warning Event on the invalid ServiceEntry", func() error {
			out, err := kw.c.KubectlErr("", "get", "events", "-n", "default", "--field-selector", "involvedObject.name=bad-protocol,reason=EgressgwInvalid",
				"-o", "jsonpath={.items[*].message}")
			if err != nil || !strings.Contains(out, "spec.ports[0].protocol") {
				return fmt.Errorf("events: %q %v", out, err)
			}
			return nil
		})
		if err := blocked(tp, "other.example.test"); err != nil {
			t.Error(err)
		}
		wantResponse(t, tp.podCurl("--cacert", tp.pki.caFile, "https://new.example.test/still"), 200, "new.example.test")
		if m := gw.admin("/metrics"); !strings.Contains(m.body, "egressgw_kube_skipped_resources 1") || !strings.Contains(m.body, "egressgw_kube_staleness_seconds ") {
			t.Errorf("metrics: want egressgw_kube_skipped_resources 1 and egressgw_kube_staleness_seconds")
		}
		if d := gw.admin("/config_dump"); !strings.Contains(d.body, `"resource": "ServiceEntry default/bad-protocol"`) || !strings.Contains(d.body, `"synced": true`) {
			t.Errorf("/config_dump: want the kubernetes section, synced, naming the skipped ServiceEntry:\n%s", tail(d.body, 3000))
		}
		kw.c.Kubectl(t, "delete", "serviceentry", "bad-protocol")
	})
	t.Run("delete_blocks_again", func(t *testing.T) {
		kw.c.Kubectl(t, "delete", "serviceentry", "new-host")
		within(t, 10*time.Second, "the deleted ServiceEntry blocked", func() error { return blocked(tp, "new.example.test") })
		if r := tp.podCurl("--cacert", tp.pki.caFile, "--resolve", "new.example.test:443:"+egressAddr, "https://new.example.test/"); r.status == 200 {
			t.Errorf("a deleted ServiceEntry's host still forwarded: %s", r)
		}
	})
	t.Run("api_server_stopped", func(t *testing.T) {
		kw.c.StopAPIServer()
		defer func() {
			if err := kw.c.StartAPIServer(); err != nil {
				t.Fatal(err)
			}
		}()
		for i := 0; i < 3; i++ {
			wantResponse(t, tp.podCurl("http://api.example.test/while-down"), 200, "api.example.test")
			time.Sleep(time.Second)
		}
		if r := gw.admin("/readyz"); r.status != 200 {
			t.Errorf("/readyz with the API server down for seconds (under --kube-max-staleness): %d %s", r.status, r.body)
		}
	})
	t.Run("changes_while_cut_off_arrive", func(t *testing.T) {
		kw.proxy.cut()
		kw.apply(t, kubeNewHost) // through kubectl's own way in, not egressgw's
		time.Sleep(2 * time.Second)
		if err := blocked(tp, "new.example.test"); err != nil {
			t.Fatalf("cut off, egressgw saw the change anyway (is the proxy cutting?): %v", err)
		}
		wantResponse(t, tp.podCurl("http://api.example.test/while-cut"), 200, "api.example.test")
		// Past --kube-max-staleness (15 s) /readyz says so; the gateway serves on.
		within(t, 40*time.Second, "/readyz failing past --kube-max-staleness", func() error {
			if r := gw.admin("/readyz"); r.status != 503 || !strings.Contains(r.body, "has not been heard from") {
				return fmt.Errorf("/readyz: %d %s", r.status, r.body)
			}
			return nil
		})
		wantResponse(t, tp.podCurl("http://api.example.test/while-stale"), 200, "api.example.test")
		kw.proxy.restore()
		// client-go's reflector backs off up to 30 s before it lists again.
		took := within(t, 60*time.Second, "the change made while cut off", func() error { return resolves(tp, "new.example.test") })
		t.Logf("arrived %v after the connection came back", took.Round(time.Millisecond))
		within(t, 30*time.Second, "/readyz ready again", func() error {
			if r := gw.admin("/readyz"); r.status != 200 {
				return fmt.Errorf("/readyz: %d %s", r.status, r.body)
			}
			return nil
		})
	})
}

// cutProxy forwards TCP connections to target and can cut them all,
// refusing new ones until restored: an API server that is up, but
// unreachable from egressgw.
type cutProxy struct {
	addr   string
	target string
	netns  string

	mu    sync.Mutex
	isCut bool
	conns map[net.Conn]bool
}

func startCutProxy(t *testing.T, netns, target string) *cutProxy {
	t.Helper()
	p := &cutProxy{target: target, netns: netns, conns: map[net.Conn]bool{}}
	var ln net.Listener
	if err := inNetns(netns, func() error {
		var err error
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *cutProxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.isCut {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	var up net.Conn
	err := inNetns(p.netns, func() error {
		var err error
		up, err = net.DialTimeout("tcp", p.target, 3*time.Second)
		return err
	})
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.isCut {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) { _, _ = io.Copy(dst, src); done <- struct{}{} }
	go cp(up, c)
	go cp(c, up)
	<-done
	c.Close()
	up.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.isCut = true
	for c := range p.conns {
		c.Close()
	}
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	p.isCut = false
	p.mu.Unlock()
}

// TestKubeSecretRotation is Istio's secure-ingress task with its Gateway in
// a file and the rest applied with kubectl: the credential Secret, the
// VirtualService, and httpbin as a Service with its EndpointSlice (the two
// sources combine: the file's Gateway serves the API server's Secret). The
// Secret rotated in the API server changes the certificate served without
// a restart, and a connection opened before the rotation is kept.
func TestKubeSecretRotation(t *testing.T) {
	tp := ingressEnv(t)
	p := tp.ingress.pki
	kw := startKube(t, tp)
	kw.c.Kubectl(t, "create", "namespace", "istio-system")
	gw := tp.startIngress(t, "kube-secure-ingress", tp.configSet(t, map[string][]string{
		"gateway.yaml": {taskDir + "secure-ingress/01-gateway-mygateway.yaml"},
	}), "--kubeconfig", kw.kubeconfig)
	kw.apply(t, tp.renderDocs(t, "ingress/secrets/httpbin-credential.yaml", "ingress/services/httpbin-k8s.yaml",
		taskDir+"secure-ingress/02-virtualservice-httpbin.yaml"))
	teapot := func(ca string) curlResult {
		return tp.ingressCurl("https://httpbin.example.com:443/status/418?id=kube-teapot", "-HHost:httpbin.example.com", "--cacert", ca)
	}
	within(t, 10*time.Second, "the Gateway, VirtualService and Secret from the API server served", func() error {
		if r := teapot(p.caFile[1]); r.status != 418 {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	wantServedCertificate(t, tp, 443, "httpbin.example.com", p.caFile[1], p.certFile("httpbin1"))
	kept, err := tp.keptConn(443, "httpbin.example.com", p.caFile[1])
	if err != nil {
		t.Fatalf("open a connection before the rotation: %v", err)
	}
	defer kept.Close()

	kw.apply(t, tp.renderDocs(t, "ingress/secrets/httpbin-credential-rotated.yaml"))
	took := within(t, 10*time.Second, "the rotated Secret served", func() error {
		if r := teapot(p.caFile[2]); r.status != 418 {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	t.Logf("Secret applied to the new certificate served: %v", took.Round(time.Millisecond))
	wantServedCertificate(t, tp, 443, "httpbin.example.com", p.caFile[2], p.certFile("httpbin2"))
	if status, err := kept.get("/status/200"); err != nil || status != 200 {
		t.Errorf("GET on the connection opened before the rotation: status %d, %v; want 200", status, err)
	}
	if r := gw.admin("/readyz"); r.status != 200 {
		t.Errorf("/readyz: %d %s", r.status, r.body)
	}
}

// TestKubeCRDsInstalledLater: egressgw starts on an API server without
// Istio's CRDs (ready: the Services and pods are read), and a ServiceEntry
// applied after the CRDs are installed is served without a restart.
func TestKubeCRDsInstalledLater(t *testing.T) {
	tp := env(t)
	kw := startKubeWithoutCRDs(t, tp)
	gw := tp.startGatewaySpec(t, gatewayBinary(t, tp), gatewaySpec{name: "kube-crds-later", mode: "REGISTRY_ONLY",
		configs: map[string]string{"README.yaml": "# this gateway's configuration comes from the API server\n"},
		args:    []string{"--kubeconfig", kw.kubeconfig, "--kube-crd-recheck", "1s"}})
	if len(gw.proc.logLines(`"kinds":["ServiceEntry"`)) == 0 {
		t.Errorf("no warning naming the Istio kinds read from files only; log:\n%s", tail(gw.proc.log(), 3000))
	}
	kw.c.ApplyIstioCRDs(t)
	kw.apply(t, kubeNewHost)
	took := within(t, 20*time.Second, "a ServiceEntry applied after the CRDs were installed", func() error { return resolves(tp, "new.example.test") })
	t.Logf("served %v after the apply", took.Round(time.Millisecond))
	if r := gw.admin("/readyz"); r.status != 200 {
		t.Errorf("/readyz: %d %s", r.status, r.body)
	}
}

// TestKubeSubsetsByPodLabels: a DestinationRule subset selects a Service's
// endpoints by the labels of the pods its EndpointSlice names, read from
// the API server, as Istio's do; relabeling a pod moves it into the subset
// without a restart.
func TestKubeSubsetsByPodLabels(t *testing.T) {
	tp := ingressEnv(t)
	kw := startKube(t, tp)
	kw.apply(t, tp.renderTestdata(t, "kube/reviews.yaml"))
	tp.startIngress(t, "kube-subsets", map[string]string{"README.yaml": "# from the API server\n"}, "--kubeconfig", kw.kubeconfig)
	send := func(marker string, n int) map[string]int {
		t.Helper()
		for i := range n {
			if r := tp.ingressCurl(fmt.Sprintf("http://reviews.example/%s?i=%d", marker, i)); r.status != 200 {
				t.Fatalf("request %d: %s", i, r)
			}
		}
		var got map[string]int
		_ = poll(3*time.Second, 50*time.Millisecond, func() error { // the backends' access log is written as they answer
			if got = tp.ingress.backendCount(t, marker); got["v1"]+got["v2"] < n {
				return fmt.Errorf("%v", got)
			}
			return nil
		})
		return got
	}
	within(t, 10*time.Second, "the route to subset v2 served", func() error {
		if r := tp.ingressCurl("http://reviews.example/warmup"); r.status != 200 {
			return fmt.Errorf("%s", r)
		}
		return nil
	})
	if got := send("subset-v2", 10); got["v2"] != 10 || got["v1"] != 0 {
		t.Errorf("subset v2 by pod labels: backends saw %v, want all 10 on v2", got)
	}
	kw.c.Kubectl(t, "label", "pod", "reviews-v1", "version=v2", "--overwrite")
	within(t, 10*time.Second, "the relabeled pod in subset v2", func() error {
		if got := send(fmt.Sprintf("relabeled-%d", time.Now().UnixNano()), 10); got["v1"] == 0 || got["v2"] == 0 {
			return fmt.Errorf("backends saw %v, want both", got)
		}
		return nil
	})
}
