#!/usr/bin/env bash
# Runs every test of egressgw on a Debian machine: installs what the tests
# need (as root), then unit tests with the race detector, the fuzz targets
# for a few seconds each, and the end-to-end suite in network namespaces.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -eq 0 ]; then
  bash scripts/install-test-deps.sh
else
  echo "test.sh: not root: skipping package installs; the e2e suite needs root" >&2
fi

export GOFLAGS="${GOFLAGS:--buildvcs=false}"
echo "== go vet"
go vet ./...
echo "== unit tests (race)"
go test -race -count=1 ./...
echo "== fuzz (short)"
go test -run '^$' -fuzz "^FuzzReadClientHello$" -fuzztime 15s ./egress/sniff/
go test -run '^$' -fuzz '^FuzzServeDNS$' -fuzztime 15s ./dnsproxy/
echo "== end-to-end (network namespaces, nginx, dnsmasq, curl)"
go test -tags e2e -count=1 -v -timeout 15m ./e2e/
