#!/usr/bin/env bash
# Builds (once, cached by version) the real binaries the tests and the CLI need:
# kube-apiserver + etcd (the envtest pair), kustomize, helm, and actionlint (lints the
# release workflow).
# Progress goes to stderr; binaries land in $MERGEOPS_CACHE/bin (default ~/.cache/mergeops/bin).
# Re-running is cheap: each binary is keyed by its version and skipped when present.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-1.36.3}"
ETCD_VERSION="${ETCD_VERSION:-3.6.8}"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-5.8.1}"
HELM_VERSION="${HELM_VERSION:-3.22.0}"
ACTIONLINT_VERSION="${ACTIONLINT_VERSION:-1.7.12}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Outside the clone so every checkout on a machine shares one build (CI clones fresh).
CACHE="${MERGEOPS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mergeops}"
BIN="$CACHE/bin"
mkdir -p "$BIN" "$CACHE/build"
export GOFLAGS="-buildvcs=false -mod=mod"
export CGO_ENABLED=0

log() { echo "[setup-test-env] $*" >&2; }

have() { [ -x "$BIN/$1" ]; }

# Only a build needs Go; a filled cache (or KUBEBUILDER_ASSETS + MERGEOPS_KUSTOMIZE/HELM/ACTIONLINT) does
# not. k8s.io/kubernetes 1.36 declares go 1.26; Debian's golang-go is older.
GO_MIN=1.26
need_go() {
  local v
  v="$(go env GOVERSION 2>/dev/null || true)"
  if [ -z "$v" ]; then
    log "building $1 needs Go >= $GO_MIN, and go is not on PATH."
    log "install it (https://go.dev/dl), or set KUBEBUILDER_ASSETS, MERGEOPS_KUSTOMIZE, MERGEOPS_HELM and MERGEOPS_ACTIONLINT to binaries you have; then npm test again"
    exit 1
  fi
  v="${v#go}"
  if [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -1)" != "$GO_MIN" ]; then
    log "building $1 needs Go >= $GO_MIN, found $v; install a newer Go (https://go.dev/dl) and run npm test again"
    exit 1
  fi
}

# Builds a command of k8s.io/kubernetes (kube-apiserver; kubectl for the benchmarks) in a
# wrapper module. k8s.io/kubernetes' go.mod points its staging modules at ./staging; the
# wrapper must replace each with its published v0.X.Y release instead.
build_kube_cmd() {
  local cmd="$1" out="$1-v$KUBE_VERSION"
  if have "$out"; then return; fi
  need_go "$cmd"
  log "building $cmd v$KUBE_VERSION (first time only; takes several minutes)"
  local dir="$CACHE/build/$cmd-$KUBE_VERSION"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  cat > tools.go <<GO
//go:build tools

package tools

import _ "k8s.io/kubernetes/cmd/$cmd"
GO
  go mod init "mergeops.local/$cmd" >/dev/null 2>&1
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local staging_ver="v0.${KUBE_VERSION#1.}"
  {
    echo "require k8s.io/kubernetes v$KUBE_VERSION"
    grep -oE '^\s*k8s.io/[a-z0-9-]+ => \./staging' "$gomod" | awk '{print $1}' | sort -u |
      while read -r m; do echo "replace $m => $m $staging_ver"; done
  } >> go.mod
  go mod tidy >/dev/null
  local pkg=k8s.io/component-base/version
  go build -o "$BIN/$out" -ldflags "-s -w \
    -X $pkg.gitVersion=v$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$(echo "$KUBE_VERSION" | cut -d. -f2) \
    -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z" \
    "k8s.io/kubernetes/cmd/$cmd"
  cd "$ROOT"
}

build_etcd() {
  local out="etcd-v$ETCD_VERSION"
  if have "$out"; then return; fi
  need_go etcd
  log "building etcd v$ETCD_VERSION"
  local dir="$CACHE/build/etcd-$ETCD_VERSION"
  rm -rf "$dir" && mkdir -p "$dir" && cd "$dir"
  cat > main.go <<GO
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  go mod init mergeops.local/etcd >/dev/null 2>&1
  go get "go.etcd.io/etcd/server/v3@v$ETCD_VERSION" >/dev/null 2>&1
  go mod tidy >/dev/null
  go build -o "$BIN/$out" -ldflags "-s -w" .
  cd "$ROOT"
}

# `go install <module>@v<version> [flags…]` into the cache as <name>-v<version>, once.
go_install() {
  local name="$1" version="$2" module="$3"
  shift 3
  local out="$name-v$version"
  if have "$out"; then return; fi
  need_go "$name"
  log "building $name v$version"
  GOBIN="$CACHE/build/gobin-$name" go install "$@" "$module@v$version"
  mv "$CACHE/build/gobin-$name/$name" "$BIN/$out"
}

build_kustomize() { go_install kustomize "$KUSTOMIZE_VERSION" sigs.k8s.io/kustomize/kustomize/v5; }

build_helm() {
  # Without these ldflags helm reports v0.0.0 and a default KubeVersion, which
  # breaks charts that check .Capabilities.
  local pkg=helm.sh/helm/v3/internal/version
  local minor lint=helm.sh/helm/v3/pkg/lint/rules cu=helm.sh/helm/v3/pkg/chartutil
  minor="$(echo "$KUBE_VERSION" | cut -d. -f2)"
  go_install helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm -ldflags "-s -w -X $pkg.version=v$HELM_VERSION -X $pkg.gitTreeState=clean \
    -X $lint.k8sVersionMajor=1 -X $lint.k8sVersionMinor=$minor -X $cu.k8sVersionMajor=1 -X $cu.k8sVersionMinor=$minor"
}

build_actionlint() { go_install actionlint "$ACTIONLINT_VERSION" github.com/rhysd/actionlint/cmd/actionlint; }

link() { ln -sf "$BIN/$1-v$2" "$BIN/$1"; }

if [ -n "${KUBEBUILDER_ASSETS:-}" ] && [ -x "$KUBEBUILDER_ASSETS/kube-apiserver" ] && [ -x "$KUBEBUILDER_ASSETS/etcd" ]; then
  log "using kube-apiserver and etcd from KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
else
  build_etcd; link etcd "$ETCD_VERSION"
  build_kube_cmd kube-apiserver; link kube-apiserver "$KUBE_VERSION"
fi
# Pinned builds even when another kustomize/helm is on PATH: rendered output (and so the
# tests' expectations) depends on the exact version. MERGEOPS_KUSTOMIZE/MERGEOPS_HELM win.
if [ -z "${MERGEOPS_KUSTOMIZE:-}" ]; then build_kustomize; link kustomize "$KUSTOMIZE_VERSION"; fi
if [ -z "${MERGEOPS_HELM:-}" ]; then build_helm; link helm "$HELM_VERSION"; fi
# The release workflow's linter (test/integration/scripts/release-workflow.test.ts).
# MERGEOPS_ACTIONLINT (a binary you have) wins, as MERGEOPS_KUSTOMIZE/HELM do.
if [ -z "${MERGEOPS_ACTIONLINT:-}" ]; then build_actionlint; link actionlint "$ACTIONLINT_VERSION"; fi
# kubectl only for `npm run bench`, which compares against it.
if [ "${1:-}" = "--with-kubectl" ]; then build_kube_cmd kubectl; link kubectl "$KUBE_VERSION"; fi
log "binaries ready in $BIN"
