#!/usr/bin/env bash
# test-deploy.sh validates deploy/ offline (scripts/test.sh runs it):
# helm lint, the Kustomize and Helm renderings checked by kubeconform
# against schemas made from the Kubernetes OpenAPI spec (k8s.io/kubernetes
# v1.37.2, from the Go module proxy) and Istio's CRDs (istio.io/api), and
# the Go tests that compare the renderings and apply them to a real API
# server (cmd/egressgw TestDeploy*; --no-go-tests leaves them out, for
# scripts/test.sh, whose unit tests run them).
# Tools and schemas are cached outside the repository (EGRESSGW_TOOLS,
# default /var/cache/egressgw-tools).
set -euo pipefail
cd "$(dirname "$0")/.."
go_tests=1
if [ "${1:-}" = "--no-go-tests" ]; then
	go_tests=0
fi

export EGRESSGW_TOOLS="${EGRESSGW_TOOLS:-/var/cache/egressgw-tools}"
bin="$(bash scripts/install-kube-tools.sh | tail -1)"
export EGRESSGW_TOOLS_BIN="$bin"

k8s_version=v1.37.2
istio_dir="$(go list -m -f '{{.Dir}}' istio.io/api)"
istio_version="$(go list -m -f '{{.Version}}' istio.io/api)"
k8s_dir="$(go mod download -json "k8s.io/kubernetes@$k8s_version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
if [ -z "$k8s_dir" ] || [ ! -d "$k8s_dir/api/openapi-spec/v3" ]; then
	echo "test-deploy.sh: no OpenAPI spec in k8s.io/kubernetes@$k8s_version ($k8s_dir)" >&2
	exit 1
fi
schemas="$EGRESSGW_TOOLS/schemas/kubernetes-$k8s_version-istio-$istio_version"
if [ ! -f "$schemas/.done" ]; then
	rm -rf "$schemas"
	go run ./internal/tools/kubeschema -openapi "$k8s_dir/api/openapi-spec/v3" \
		-crds "$istio_dir/kubernetes/customresourcedefinitions.gen.yaml" -out "$schemas"
	touch "$schemas/.done"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
"$bin/helm" lint --strict deploy/helm/egressgw
"$bin/kustomize" build deploy/base >"$out/kustomize-base.yaml"
"$bin/kustomize" build deploy >"$out/kustomize-files.yaml"
# kubectl's own kustomize (kubectl apply -k) builds what kustomize does.
kubectl="${EGRESSGW_KUBE_BIN:-${EGRESSGW_KUBE_CACHE:-/var/cache/egressgw-k8s}/$k8s_version/bin}/kubectl"
if [ -x "$kubectl" ]; then
	for k in deploy/base deploy; do
		if ! diff -u <("$bin/kustomize" build "$k") <("$kubectl" kustomize "$k") >"$out/kubectl-kustomize.diff"; then
			echo "test-deploy.sh: kubectl kustomize $k differs from kustomize build $k:" >&2
			cat "$out/kubectl-kustomize.diff" >&2
			exit 1
		fi
	done
elif [ "${EGRESSGW_REQUIRE_KUBE:-}" = 1 ]; then
	echo "test-deploy.sh: no kubectl at $kubectl (scripts/build-kube.sh builds it)" >&2
	exit 1
fi
"$bin/helm" template egressgw deploy/helm/egressgw -n istio-system >"$out/helm-defaults.yaml"
"$bin/helm" template egressgw deploy/helm/egressgw -n istio-system \
	--set-file 'config.files.egress\.yaml=deploy/config/egress.yaml' \
	--set 'networkPolicy.namespaces={team-a}' --set 'rbac.secretNames={client-credential}' \
	--set egressInterface= --set 'admin.host=$(HOST_IP)' >"$out/helm-options.yaml"
"$bin/kubeconform" -strict -summary \
	-schema-location "$schemas/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
	"$out"/*.yaml deploy/examples/*.yaml deploy/config/*.yaml
if [ "$go_tests" = 1 ]; then
	go test -count=1 -run '^TestDeploy' ./cmd/egressgw/
	go test -count=1 ./internal/tools/... ./internal/linklocal/ ./internal/caps/
fi
