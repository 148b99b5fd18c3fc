#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and etcd from the Go module proxy into a folder,
# at the versions that match this module's k8s.io pins. No download site is
# contacted: everything comes through `go` and GOPROXY.
#
# Usage: hack/envtest-assets.sh OUTDIR KUBERNETES_VERSION ETCD_VERSION
set -euo pipefail

out=${1:?output folder}
kube_version=${2:?k8s.io/kubernetes version, e.g. v1.37.2}
etcd_version=${3:?go.etcd.io/etcd/server/v3 version, e.g. v3.6.16}

stamp="$out/.versions"
want="kubernetes=$kube_version etcd=$etcd_version"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" \
   && -x "$out/kube-apiserver" && -x "$out/kubectl" && -x "$out/etcd" ]]; then
  echo "envtest assets up to date in $out ($want)"
  exit 0
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CGO_ENABLED=0 GOFLAGS=-mod=mod GOWORK=off

# k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them
# with ./staging paths; a consumer must replace each with the published v0.Y.Z.
staging_version="v0.${kube_version#v1.}"
kube_mod=$(go mod download -json "k8s.io/kubernetes@$kube_version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
mkdir -p "$work/kube"
{
  echo "module envtestassets/kube"
  echo
  echo "go $(go env GOVERSION | sed 's/^go//; s/^\([0-9]*\.[0-9]*\).*/\1/')"
  echo
  echo "require k8s.io/kubernetes $kube_version"
  echo
  echo "replace ("
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\t\1 => \1 '"$staging_version"'#p' "$kube_mod"
  echo ")"
} > "$work/kube/go.mod"

ver_pkg=k8s.io/component-base/version
minor=${kube_version#v1.}; minor=${minor%%.*}
ldflags="-s -w -X $ver_pkg.gitVersion=$kube_version -X $ver_pkg.gitMajor=1 -X $ver_pkg.gitMinor=$minor -X $ver_pkg.gitTreeState=clean"
(
  cd "$work/kube"
  go get "k8s.io/kubernetes/cmd/kube-apiserver@$kube_version" "k8s.io/kubernetes/cmd/kubectl@$kube_version"
  echo "building kubectl $kube_version"
  go build -ldflags "$ldflags" -o "$out/kubectl" k8s.io/kubernetes/cmd/kubectl
  echo "building kube-apiserver $kube_version (about 12 minutes cold on 2 cores)"
  go build -ldflags "$ldflags" -o "$out/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
)

mkdir -p "$work/etcd"
cat > "$work/etcd/go.mod" <<MOD
module envtestassets/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $etcd_version
MOD
(
  cd "$work/etcd"
  go get "go.etcd.io/etcd/server/v3@$etcd_version"
  echo "building etcd $etcd_version"
  go build -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
)

"$out/kube-apiserver" --version
# No pipe into head here: with pipefail, etcd's SIGPIPE would fail the build.
etcd_version_line=$("$out/etcd" --version)
echo "${etcd_version_line%%$'\n'*}"
echo "$want" > "$stamp"
echo "envtest assets built in $out"
