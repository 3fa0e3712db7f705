package kube

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/egressgw/egressgw/internal/kubetest"
)

// BenchmarkKubeScale measures egressgw (the real binary) reading a real API
// server: RSS and compile time with 10,000 ServiceEntries and 5,000 pods,
// the time from a ServiceEntry's create to DNS answering it (p50 and p99
// over 100 creates, one at a time), and how many compiles a burst of
// 1,000 creates causes. Run it once:
//
//	go test -run '^$' -bench BenchmarkKubeScale -benchtime 1x ./kube/
//
// KUBE_SCALE_ENTRIES and KUBE_SCALE_PODS change the sizes.
func BenchmarkKubeScale(b *testing.B) {
	entries, pods := envInt("KUBE_SCALE_ENTRIES", 10000), envInt("KUBE_SCALE_PODS", 5000)
	c := kubetest.Start(b)
	c.ApplyIstioCRDs(b)
	ctx := context.Background()
	bin := filepath.Join(b.TempDir(), "egressgw")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/egressgw").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	start := time.Now()
	parallel(b, entries, func(i int) error {
		_, err := c.Istio.NetworkingV1().ServiceEntries("default").Create(ctx, serviceEntry(fmt.Sprintf("se-%d", i), fmt.Sprintf("h%d.scale.test", i), 443), metav1.CreateOptions{})
		return err
	})
	parallel(b, pods, func(i int) error {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("pod-%d", i), Namespace: "default", Labels: map[string]string{"app": "scale"}},
			Spec: corev1.PodSpec{ServiceAccountName: "scale", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
		created, err := c.Client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
		if err != nil {
			return err
		}
		ip := fmt.Sprintf("10.%d.%d.%d", 100+i/65536, (i/256)%256, i%256)
		created.Status.Phase, created.Status.PodIP, created.Status.PodIPs = corev1.PodRunning, ip, []corev1.PodIP{{IP: ip}}
		_, err = c.Client.CoreV1().Pods("default").UpdateStatus(ctx, created, metav1.UpdateOptions{})
		return err
	})
	b.Logf("created %d ServiceEntries and %d pods in %v", entries, pods, time.Since(start).Round(time.Millisecond))

	dnsAddr, admin := freeAddr(b), freeAddr(b)
	logPath := filepath.Join(b.TempDir(), "egressgw.log")
	logf, err := os.Create(logPath)
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	gw := exec.Command(bin, "run", "--kubeconfig", c.Kubeconfig, "--egress-addr", "127.0.0.1", "--dns-listen", dnsAddr,
		"--dns-upstream", "127.0.0.1:9", "--admin-listen", admin)
	gw.Stdout, gw.Stderr = logf, logf
	gw.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	began := time.Now()
	if err := gw.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = gw.Process.Kill(); _ = gw.Wait() }()
	waitDNS(b, dnsAddr, fmt.Sprintf("h%d.scale.test", entries-1), 5*time.Minute)
	b.ReportMetric(float64(time.Since(began).Milliseconds()), "start-to-serve-ms")
	waitReady(b, admin)
	compiles0 := reloads(b, admin)
	b.ReportMetric(rssMiB(b, gw.Process.Pid), "rss-MiB")

	// One at a time: create, then query until the answer comes.
	var lat []time.Duration
	for i := range 100 {
		host := fmt.Sprintf("one%d.scale.test", i)
		t0 := time.Now()
		if _, err := c.Istio.NetworkingV1().ServiceEntries("default").Create(ctx, serviceEntry(fmt.Sprintf("one-%d", i), host, 443), metav1.CreateOptions{}); err != nil {
			b.Fatal(err)
		}
		waitDNS(b, dnsAddr, host, 30*time.Second)
		lat = append(lat, time.Since(t0))
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[49].Microseconds())/1000, "create-to-dns-p50-ms")
	b.ReportMetric(float64(lat[98].Microseconds())/1000, "create-to-dns-p99-ms")
	compiles1 := reloads(b, admin)
	b.ReportMetric(float64(compiles1-compiles0)/100, "compiles/create")

	// A burst: 1,000 creates as fast as the API server takes them.
	t0 := time.Now()
	parallel(b, 1000, func(i int) error {
		_, err := c.Istio.NetworkingV1().ServiceEntries("default").Create(ctx, serviceEntry(fmt.Sprintf("burst-%d", i), fmt.Sprintf("b%d.scale.test", i), 443), metav1.CreateOptions{})
		return err
	})
	waitDNS(b, dnsAddr, "b999.scale.test", time.Minute)
	for i := range 1000 { // every one of them, not only the last
		waitDNS(b, dnsAddr, fmt.Sprintf("b%d.scale.test", i), 10*time.Second)
	}
	b.ReportMetric(float64(time.Since(t0).Milliseconds()), "burst-1000-ms")
	b.ReportMetric(float64(reloads(b, admin)-compiles1), "burst-1000-compiles")
	b.ReportMetric(rssMiB(b, gw.Process.Pid), "rss-after-MiB")
	b.ReportMetric(float64(lastCompile(b, logPath).Milliseconds()), "compile-ms")
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// parallel runs f(0..n-1) on 16 goroutines and fails b on the first error.
func parallel(b *testing.B, n int, f func(i int) error) {
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	next := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range next {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
}

func freeAddr(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitDNS queries name until the gateway answers it with 127.0.0.1.
func waitDNS(b *testing.B, server, name string, timeout time.Duration) {
	cl := &dns.Client{Timeout: 500 * time.Millisecond}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), dns.TypeA)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r, _, err := cl.Exchange(m, server)
		if err == nil && len(r.Answer) > 0 {
			if a, ok := r.Answer[0].(*dns.A); ok && a.A.String() == "127.0.0.1" {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	b.Fatalf("%s not answered within %v", name, timeout)
}

func waitReady(b *testing.B, admin string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if r, err := http.Get("http://" + admin + "/readyz"); err == nil {
			r.Body.Close()
			if r.StatusCode == 200 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.Fatal("/readyz not ready within a minute")
}

var reloadsOK = regexp.MustCompile(`(?m)^egressgw_config_reloads_total\{result="success"\} (\d+)`)

func reloads(b *testing.B, admin string) int {
	r, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer r.Body.Close()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := reloadsOK.FindStringSubmatch(sc.Text()); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	b.Fatal("no egressgw_config_reloads_total in /metrics")
	return 0
}

func rssMiB(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.Atoi(f[1])
			return float64(kb) / 1024
		}
	}
	b.Fatal("no VmRSS")
	return 0
}

var compileRE = regexp.MustCompile(`"compile":([0-9.]+)`)

// lastCompile is the compile time of the last configuration applied.
func lastCompile(b *testing.B, logPath string) time.Duration {
	data, _ := os.ReadFile(logPath)
	m := compileRE.FindAllSubmatch(data, -1)
	if len(m) == 0 {
		return 0
	}
	s, _ := strconv.ParseFloat(string(m[len(m)-1][1]), 64)
	return time.Duration(s * float64(time.Second))
}
