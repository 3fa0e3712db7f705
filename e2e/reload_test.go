//go:build e2e && linux

package e2e

import (
	"fmt"
	"testing"
	"time"
)

// testLiveReload is case 10: configuration changes apply without a restart;
// a broken file is rejected and the last good configuration keeps serving.
func testLiveReload(t *testing.T, tp *topology, gw *gateway) {
	const host = "new.example.test"
	newHostOK := func(t *testing.T, marker string) {
		t.Helper()
		r := tp.podCurl("--cacert", tp.pki.caFile, "https://"+host+"/case10?id="+marker)
		wantResponse(t, r, 200, host+" sni="+host)
	}
	oldHostOK := func(t *testing.T) {
		t.Helper()
		wantResponse(t, tp.podCurl("http://api.example.test/case10"), 200, "api.example.test")
	}
	failedReload := func(t *testing.T, file string) {
		t.Helper()
		before := gw.reloads(t, "failure")
		gw.putConfig(t, file, tp.renderTestdata(t, "reload/"+file))
		gw.waitReloads(t, "failure", before)
	}
	removeAndRecover := func(t *testing.T, file string) {
		t.Helper()
		before := gw.reloads(t, "success")
		gw.removeConfig(t, file)
		gw.waitReloads(t, "success", before)
	}
	// logNames waits (bounded) for an error log line naming every one of subs.
	logNames := func(t *testing.T, subs ...string) {
		t.Helper()
		err := poll(3*time.Second, 50*time.Millisecond, func() error {
			if len(gw.proc.logLines(subs...)) == 0 {
				return fmt.Errorf("no egressgw log line contains all of %q", subs)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%v; log:\n%s", err, tail(gw.proc.log(), 3000))
		}
	}

	t.Run("add_host", func(t *testing.T) {
		wantBlockedName(t, tp, host)
		before := gw.reloads(t, "success")
		gw.putConfig(t, "new-host.yaml", tp.renderTestdata(t, "reload/new-host.yaml"))
		gw.waitReloads(t, "success", before)
		wantResolves(t, tp, host)
		newHostOK(t, "reload-added")
		oldHostOK(t)
	})
	t.Run("broken_yaml_keeps_last_good", func(t *testing.T) {
		failedReload(t, "broken-syntax.yaml")
		logNames(t, "broken-syntax.yaml")
		newHostOK(t, "reload-broken-syntax")
		oldHostOK(t)
		if r := gw.admin("/readyz"); r.status != 200 {
			t.Errorf("/readyz after a failed reload: got %d, want 200 (the last good config serves)", r.status)
		}
		removeAndRecover(t, "broken-syntax.yaml")
	})
	t.Run("invalid_field_keeps_last_good", func(t *testing.T) {
		failedReload(t, "broken-field.yaml")
		logNames(t, "broken-field.yaml", "broken-field", "resolution")
		wantBlockedName(t, tp, "broken.example.test")
		newHostOK(t, "reload-broken-field")
		oldHostOK(t)
		removeAndRecover(t, "broken-field.yaml")
	})
	t.Run("remove_host", func(t *testing.T) {
		removeAndRecover(t, "new-host.yaml")
		wantBlockedName(t, tp, host)
		oldHostOK(t)
	})
}
