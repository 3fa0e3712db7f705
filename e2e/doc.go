// Package e2e holds egressgw's black-box end-to-end tests.
//
// They build cmd/egressgw and run it in Linux network namespaces between a
// client "pod" and an "internet" served by nginx and dnsmasq, then drive it
// with curl, dig and raw sockets the way Istio's egress tasks drive a mesh.
// The ingress cases (ingress_*_test.go) add an "outside" client namespace
// that reaches the node's --ingress-addr, and a "backends" namespace with
// httpbin (gunicorn) and small nginx and Go servers that only the node
// reaches.
// They need root and the tools scripts/install-test-deps.sh installs, and
// sit behind a build tag:
//
//	sudo scripts/install-test-deps.sh
//	go test -tags e2e -count=1 -v ./e2e/
//
// EGRESSGW_BIN runs a prebuilt binary instead of building one; E2E_KEEP=1
// keeps the run's directory (configs, certificates, logs) even on success.
package e2e
