package egress

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/egressgw/egressgw/egress/config"
	"github.com/egressgw/egressgw/policy"
)

// ejectedOf lists the ejected endpoints of the served cluster named name,
// as /config_dump shows them.
func ejectedOf(e *Engine, name string) []string {
	rec := httptest.NewRecorder()
	(&Admin{Engine: e, Gatherer: prometheus.NewRegistry()}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/config_dump", nil))
	var d struct {
		Clusters []struct {
			Name    string   `json:"name"`
			Ejected []string `json:"ejectedEndpoints"`
		} `json:"clusters"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &d); err != nil {
		panic("config_dump: " + err.Error())
	}
	for _, c := range d.Clusters {
		if c.Name == name {
			return c.Ejected
		}
	}
	return nil
}

// TestOutlierSurvivesReload: an ejected endpoint stays ejected across a
// reload that keeps it (an unrelated change), and comes back when its
// baseEjectionTime ends.
func TestOutlierSurvivesReload(t *testing.T) {
	bad, yml := outlierConfig(t, "5s")
	env := startIngress(t, yml, nil)
	const cluster = "outbound|80||app.default.svc.cluster.local"
	badAddr := "127.0.0.1:" + port2(bad.URL)
	for i := 0; i < 20 && len(ejectedOf(env.eng, cluster)) == 0; i++ {
		env.do(t, nil, "http", "GET", "app.example.com", "/", nil)
	}
	if got := ejectedOf(env.eng, cluster); !slices.Equal(got, []string{badAddr}) {
		t.Fatalf("before the reload: ejected %v, want [%s]", got, badAddr)
	}

	// An unrelated change: a response header on the route.
	dir := t.TempDir()
	reloaded := strings.Replace(yml, "retries: {attempts: 0}}]", "retries: {attempts: 0}, headers: {response: {set: {x-reloaded: \"yes\"}}}}]", 1)
	reloaded = strings.ReplaceAll(reloaded, "{{PORT}}", env.port)
	if err := os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(reloaded), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := config.Load([]string{dir}, config.Options{ClusterDomain: "cluster.local", Namespace: "istio-system", Mode: policy.RegistryOnly})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := env.eng.Update(snap); err != nil {
		t.Fatalf("update: %v", err)
	}
	if got := ejectedOf(env.eng, cluster); !slices.Equal(got, []string{badAddr}) {
		t.Errorf("after the reload: ejected %v, want [%s] still", got, badAddr)
	}
	before := bad.hits.Load()
	for range 4 {
		got := env.do(t, nil, "http", "GET", "app.example.com", "/", nil)
		if got.status != 200 || got.header.Get("X-Reloaded") != "yes" {
			t.Fatalf("after the reload: %d %q (X-Reloaded %q), want 200 from the good endpoint under the new route", got.status, got.body, got.header.Get("X-Reloaded"))
		}
	}
	if n := bad.hits.Load() - before; n != 0 {
		t.Errorf("the ejected endpoint got %d requests after the reload, want none until its ejection ends", n)
	}

	// Its baseEjectionTime ends: it is back (waited for, bounded).
	deadline := time.Now().Add(30 * time.Second)
	for len(ejectedOf(env.eng, cluster)) != 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got := ejectedOf(env.eng, cluster); len(got) != 0 {
		t.Fatalf("30s after the ejection: still ejected %v, want it back after its 5s", got)
	}
	for range 4 {
		env.do(t, nil, "http", "GET", "app.example.com", "/", nil)
	}
	if bad.hits.Load() == before {
		t.Error("the endpoint back in service got no requests of 4 round robin")
	}
}
