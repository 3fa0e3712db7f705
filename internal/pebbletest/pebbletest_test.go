package pebbletest

import (
	"crypto/tls"
	"encoding/json"
	"go/parser"
	"go/token"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestPackageDoc(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "pebbletest.go", nil, parser.PackageClauseOnly|parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil || !strings.HasPrefix(f.Doc.Text(), "Package pebbletest ") {
		t.Errorf("pebbletest.go has no package comment starting %q", "Package pebbletest ")
	}
}

// TestStart: the directory answers over HTTPS trusted by APIRoots and
// names the ACME endpoints; the issuer roots are there.
func TestStart(t *testing.T) {
	p := Start(t, Options{})
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.APIRoots}}}
	resp, err := c.Get(p.Directory)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dir map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&dir); err != nil {
		t.Fatalf("directory: %v", err)
	}
	for _, k := range []string{"newAccount", "newNonce", "newOrder"} {
		if _, ok := dir[k]; !ok {
			t.Errorf("directory %s has no %s: %v", p.Directory, k, dir)
		}
	}
	if p.IssuerRoots(t) == nil {
		t.Error("no issuer roots")
	}
}
