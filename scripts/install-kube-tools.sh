#!/usr/bin/env bash
# install-kube-tools.sh builds the manifest tools that scripts/test.sh's
# deploy section runs, from the Go module proxy, into a cache outside the
# repository (EGRESSGW_TOOLS, default /var/cache/egressgw-tools/bin):
#   helm        helm.sh/helm/v4 (lint, template)
#   kustomize   sigs.k8s.io/kustomize/kustomize/v5 (v5.8.2: the newest whose
#               go.mod asks for no newer Go than 1.26; v5.8.3 wants go1.27)
#   kubeconform github.com/yannh/kubeconform (offline schema validation)
#   coredns     github.com/coredns/coredns (the cluster DNS of the e2e case
#               that runs deploy/examples/coredns-forward.yaml's Corefile)
# Each is built once; a binary already there at its version is kept.
# Prints the bin directory on its last line.
set -euo pipefail

dir="${EGRESSGW_TOOLS:-/var/cache/egressgw-tools}"
bin="$dir/bin"
mkdir -p "$bin"

# name -> module@version (a package path with its module's version).
declare -A tools=(
	[helm]=helm.sh/helm/v4/cmd/helm@v4.3.2
	[kustomize]=sigs.k8s.io/kustomize/kustomize/v5@v5.8.2
	[kubeconform]=github.com/yannh/kubeconform/cmd/kubeconform@v0.8.0
	[coredns]=github.com/coredns/coredns@v1.12.1
)

for name in "${!tools[@]}"; do
	want="${tools[$name]}"
	stamp="$bin/.$name.version"
	if [ -x "$bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
		continue
	fi
	echo "install-kube-tools.sh: building $want" >&2
	GOBIN="$bin" GOFLAGS=-buildvcs=false CGO_ENABLED=0 go install "$want"
	echo "$want" >"$stamp"
done
echo "$bin"
