#!/usr/bin/env bash
# Builds kube-apiserver and kubectl of one Kubernetes release from the Go
# module proxy (no download site, no Docker) into a cache outside the
# repository, for the tests that run against a real API server. A cached
# build is reused; a cold one takes 10-15 minutes on 2 cores.
#
# k8s.io/kubernetes is not meant to be used as a module: its go.mod replaces
# every k8s.io staging module with ./staging/src/..., which the module zip
# does not hold. We copy the module, drop its go.work and vendor/, point each
# staging module at the same release on the proxy (v0.X.Y for v1.X.Y), and
# build with GOWORK=off.
#
# Prints the directory holding the two binaries.
set -euo pipefail
version="${EGRESSGW_KUBE_VERSION:-v1.37.2}"
cache="${EGRESSGW_KUBE_CACHE:-/var/cache/egressgw-k8s}"
bin="$cache/$version/bin"
if [ -x "$bin/kube-apiserver" ] && [ -x "$bin/kubectl" ]; then
  echo "$bin"
  exit 0
fi
staging="v0.${version#v1.}"
mkdir -p "$cache/$version"
src="$cache/$version/src"
work="$(mktemp -d "$cache/$version/mod.XXXXXX")"
trap 'rm -rf "$work"' EXIT
echo "build-kube: kubernetes $version (staging modules $staging) into $bin" >&2
if [ ! -f "$src/go.mod" ]; then
  # A throwaway module asks the proxy for k8s.io/kubernetes.
  (cd "$work" && go mod init egressgw.local/kubefetch >/dev/null 2>&1 &&
    GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$version" >download.json)
  dir="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' "$work/download.json")"
  [ -d "$dir" ] || { echo "build-kube: the module proxy gave no k8s.io/kubernetes@$version" >&2; exit 1; }
  rm -rf "$src.tmp"
  cp -r "$dir" "$src.tmp"
  chmod -R u+w "$src.tmp"
  rm -rf "$src.tmp/vendor" "$src.tmp/go.work" "$src.tmp/go.work.sum"
  sed -i -E "s#^([[:space:]]*)(k8s\.io/[A-Za-z0-9._-]+) => \./staging/src/k8s\.io/[A-Za-z0-9._-]+\$#\1\2 => \2 $staging#" "$src.tmp/go.mod"
  mv "$src.tmp" "$src"
fi
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(echo "$version" | cut -d. -f2)"
ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$version"
mkdir -p "$bin.tmp"
(cd "$src" && GOWORK=off GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$bin.tmp/" ./cmd/kube-apiserver ./cmd/kubectl)
rm -rf "$bin"
mv "$bin.tmp" "$bin"
echo "$bin"
