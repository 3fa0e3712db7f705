#!/usr/bin/env bash
# install-bench-deps.sh installs what the benchmark harness (e2e/bench)
# measures against and drives, on Debian: nginx with its stream module,
# HAProxy, Caddy, dnsmasq, wrk, h2load, dnsperf and curl, plus CoreDNS built with
# `go install` into .bench/bin (skipped, with a message, if that fails).
#
# Idempotent and non-interactive; it leaves no system service running: the
# harness starts its own, in a network namespace.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
	echo "install-bench-deps.sh: must run as root" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive

bash scripts/install-test-deps.sh

# package -> a file it installs.
declare -A want=(
	[libnginx-mod-stream]=/usr/lib/nginx/modules/ngx_stream_module.so
	[haproxy]=/usr/sbin/haproxy
	[caddy]=/usr/bin/caddy
	[wrk]=/usr/bin/wrk
	[nghttp2-client]=/usr/bin/h2load
	[dnsperf]=/usr/bin/dnsperf
	[util-linux]=/usr/bin/taskset
)
missing=()
for pkg in "${!want[@]}"; do
	[ -e "${want[$pkg]}" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
	bash scripts/apt-install.sh "${missing[@]}"
fi
for svc in haproxy nginx dnsmasq caddy; do
	if [ -x "/etc/init.d/$svc" ]; then
		"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
	fi
done

# CoreDNS from source, pinned; a failure is reported, not fatal.
# EGRESSGW_BENCH_NO_COREDNS=1 skips it (the test command's smoke run).
coredns_version=v1.12.1
mkdir -p .bench/bin
if [ -n "${EGRESSGW_BENCH_NO_COREDNS:-}" ]; then
	:
elif ! [ -x .bench/bin/coredns ] || ! .bench/bin/coredns -version 2>/dev/null | grep -q "${coredns_version#v}"; then
	if ! GOBIN="$PWD/.bench/bin" GOFLAGS=-buildvcs=false go install "github.com/coredns/coredns@${coredns_version}"; then
		echo "install-bench-deps.sh: building CoreDNS ${coredns_version} failed; the DNS table will have no CoreDNS column" >&2
		rm -f .bench/bin/coredns
	fi
fi
echo "install-bench-deps.sh: ok ($(haproxy -v | head -1); caddy $(caddy version); $(wrk -v 2>&1 | head -1); coredns: $([ -x .bench/bin/coredns ] && .bench/bin/coredns -version | head -1 || echo skipped))"
