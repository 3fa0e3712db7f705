#!/usr/bin/env bash
# install-test-deps.sh installs what the e2e suite (go test -tags e2e ./e2e/)
# needs on Debian: nginx, dnsmasq, curl, iproute2, openssl, dig, nc, and the
# HTTP/2 servers and load tool of e2e/h2servers_test.go (h2o, h2load), and
# the ingress world's backends and ACME CA (httpbin under gunicorn, pebble),
# and etcd for the tests against a real API server (scripts/build-kube.sh
# builds the API server itself).
#
# Idempotent and non-interactive. It runs `apt-get update` once and only if
# something is missing, and it leaves no system nginx or dnsmasq service
# running: the suite starts its own, inside network namespaces.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
	echo "install-test-deps.sh: must run as root" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive

# command -> package that provides it.
declare -A want=(
	[nginx]=nginx-light
	[dnsmasq]=dnsmasq-base
	[curl]=curl
	[ip]=iproute2
	[openssl]=openssl
	[dig]=dnsutils
	[nc]=netcat-openbsd
	[h2o]=h2o
	[h2load]=nghttp2-client
	[gunicorn]=gunicorn
	[pebble]=pebble
	[etcd]=etcd-server
)

missing=()
for cmd in "${!want[@]}"; do
	if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ]; then
		missing+=("${want[$cmd]}")
	fi
done
if ! [ -f /etc/ssl/certs/ca-certificates.crt ]; then
	missing+=(ca-certificates)
fi
# httpbin is a Python module for Debian's python3 (which gunicorn runs), not a command.
if ! /usr/bin/python3 -c 'import httpbin' >/dev/null 2>&1; then
	missing+=(python3-httpbin)
fi

if [ "${#missing[@]}" -gt 0 ]; then
	bash "$(dirname "$0")/apt-install.sh" "${missing[@]}" ca-certificates
fi

# Whatever started them (an earlier install, a package's postinst without
# policy-rc.d), the system services must not hold ports the suite uses.
for svc in nginx dnsmasq h2o etcd; do
	if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
		systemctl disable --now "$svc" >/dev/null 2>&1 || true
	elif [ -x "/etc/init.d/$svc" ]; then
		"/etc/init.d/$svc" stop >/dev/null 2>&1 || true
	fi
done

for cmd in "${!want[@]}"; do
	command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || {
		echo "install-test-deps.sh: $cmd still missing" >&2
		exit 1
	}
done
echo "install-test-deps.sh: ok ($(nginx -v 2>&1); $(dnsmasq --version | head -1))"
