#!/usr/bin/env bash
# Runs every test of egressgw on a Debian machine: installs what the tests
# need (as root), then unit tests with the race detector, the fuzz targets
# for a few seconds each, the end-to-end suite in network namespaces, and a
# short run of the benchmark harness.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  bash scripts/install-test-deps.sh
  EGRESSGW_BENCH_NO_COREDNS=1 bash scripts/install-bench-deps.sh
  # kube-apiserver and kubectl from the Go module proxy, cached in
  # /var/cache/egressgw-k8s: 10-15 minutes the first time, then reused.
  echo "== kube-apiserver and kubectl (cached build)"
  bash scripts/build-kube.sh
  # The tests against a real API server fail, rather than skip, without it.
  export EGRESSGW_REQUIRE_KUBE=1
  # helm, kustomize and kubeconform for deploy/'s tests (cmd/egressgw
  # TestDeploy*, which fail rather than skip once this is set).
  echo "== helm, kustomize, kubeconform (cached build)"
  EGRESSGW_TOOLS_BIN="$(bash scripts/install-kube-tools.sh | tail -1)"
  export EGRESSGW_TOOLS_BIN
else
  echo "test.sh: not root: skipping package installs; the e2e suite needs root" >&2
fi

export GOFLAGS="${GOFLAGS:--buildvcs=false}"
echo "== go vet"
go vet ./...
echo "== unit tests (race)"
go test -race -count=1 ./...
echo "== fuzz (short)"
# Budgets in executions (about 15 s each here), not in time: Go 1.26's fuzz
# coordinator can report a time budget's end as a failure, "context deadline
# exceeded" with no failing input (go.dev/issue/75804, fixed in Go 1.27).
go test -run '^$' -fuzz "^FuzzReadClientHello$" -fuzztime 300000x -timeout 5m ./egress/sniff/
go test -run '^$' -fuzz '^FuzzServeDNS$' -fuzztime 100000x -timeout 5m ./dnsproxy/
go test -run '^$' -fuzz '^FuzzParseHead$' -fuzztime 50000x -timeout 5m ./egress/
go test -run '^$' -fuzz '^FuzzParseHeadFields$' -fuzztime 60000x -timeout 5m ./egress/
go test -run '^$' -fuzz '^FuzzParseResponseHead$' -fuzztime 50000x -timeout 5m ./egress/
go test -run '^$' -fuzz '^FuzzParseResponseHeadFields$' -fuzztime 50000x -timeout 5m ./egress/
go test -run '^$' -fuzz '^FuzzH2ServerFrames$' -fuzztime 50000x -timeout 5m ./egress/
go test -run '^$' -fuzz '^FuzzDecode$' -fuzztime 20000x -timeout 5m ./egress/config/
go test -run '^$' -fuzz '^FuzzRoutes$' -fuzztime 20000x -timeout 5m ./egress/config/
go test -run '^$' -fuzz '^FuzzLookup$' -fuzztime 300000x -timeout 5m ./policy/
go test -run '^$' -fuzz '^FuzzLookup$' -fuzztime 100000x -timeout 5m ./route/
go test -run '^$' -fuzz '^FuzzNewAuthz$' -fuzztime 50000x -timeout 5m ./policy/
go test -run '^$' -fuzz '^FuzzCheck$' -fuzztime 300000x -timeout 5m ./netguard/
go test -run '^$' -fuzz '^FuzzParseCIDRs$' -fuzztime 100000x -timeout 5m ./netguard/
go test -run '^$' -fuzz '^FuzzNormalizePath$' -fuzztime 100000x -timeout 5m ./egress/
go test -run '^$' -fuzz '^FuzzCanonicalHost$' -fuzztime 100000x -timeout 5m ./egress/
go test -run '^$' -fuzz '^FuzzDecodeHead$' -fuzztime 100000x -timeout 5m ./origination/
go test -run '^$' -fuzz '^FuzzH2Frames$' -fuzztime 50000x -timeout 5m ./origination/
go test -run '^$' -fuzz '^FuzzSet$' -fuzztime 100000x -timeout 5m ./balance/
go test -run '^$' -fuzz '^FuzzServerFor$' -fuzztime 100000x -timeout 5m ./servercert/
echo "== deploy manifests (helm lint, kustomize, helm template, kubeconform, renderings compared)"
bash scripts/test-deploy.sh --no-go-tests   # its Go tests ran with the unit tests
echo "== end-to-end (network namespaces, nginx, dnsmasq, curl)"
go test -tags e2e -count=1 -v -timeout 15m ./e2e/
echo "== end-to-end again on the standard library's paths (--fast-paths=false: net/http server, http.Transport, io.Copy)"
E2E_GATEWAY_ARGS=--fast-paths=false go test -tags e2e -count=1 -timeout 15m ./e2e/
if [ "$(id -u)" -eq 0 ]; then
  # A short run of the benchmark harness (make bench): it must still run
  # against every peer, and its reload check (a config change every second
  # during an origination load) fails the run if a single request is lost.
  echo "== benchmark harness, smoke run"
  mkdir -p .bench/bin
  go build -o .bench/bin/egressgw ./cmd/egressgw
  go build -o .bench/bin/bench ./e2e/bench
  .bench/bin/bench -egressgw "$PWD/.bench/bin/egressgw" -runs 1 -duration 1s -hold 200 -bulk-mib 16 -out .bench/smoke.md >/dev/null
  echo "bench smoke run: ok"
fi
