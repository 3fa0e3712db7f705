#!/usr/bin/env bash
# apt-install.sh PACKAGE... installs Debian packages, non-interactively,
# without letting their scripts start services (nginx would take port 80 on
# the host): policy-rc.d refuses every start while it runs.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

policy=/usr/sbin/policy-rc.d
created_policy=0
if ! [ -e "$policy" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$policy"
	chmod +x "$policy"
	created_policy=1
fi
trap 'if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi' EXIT

apt-get update -q
pkgs=("$@")
# nginx-light is gone from newer Debian releases; fall back to nginx.
if printf '%s\n' "${pkgs[@]}" | grep -qx nginx-light &&
	! apt-cache show nginx-light >/dev/null 2>&1; then
	pkgs=("${pkgs[@]/nginx-light/nginx}")
fi
apt-get install -y -q --no-install-recommends "${pkgs[@]}"
