#!/usr/bin/env bash
# Everything `npm test` needs on a fresh machine, in the order that fails fastest:
#   1. the Debian packages the tests run for real (installed when root with apt; otherwise
#      stop at once with the exact command to run),
#   2. Node dependencies (`npm ci` when node_modules is missing or older than the lockfile),
#   3. the pinned binaries built from Go modules (scripts/setup-test-env.sh, cached).
# MERGEOPS_SKIP_SETUP=1 skips all of it (a machine you know is ready).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "[test-env] $*" >&2; }
# Stops with one instruction: what to run, then `npm test` again.
stop() {
  echo "" >&2
  echo "[test-env] cannot set up the test environment: $1" >&2
  [ -n "${2:-}" ] && echo "[test-env] run this first, then npm test again:" >&2 && echo "    $2" >&2
  exit 1
}

[ "${MERGEOPS_SKIP_SETUP:-}" = "1" ] && { log "MERGEOPS_SKIP_SETUP=1: skipping set-up"; exit 0; }

# --- Node itself (engines in package.json; probot 14 needs >= 20.18.1) ---
command -v node >/dev/null || stop "node is not installed" "install Node.js 20.18.1 or newer (https://nodejs.org)"
node -e 'const [a,b,c]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&(b>18||(b===18&&c>=1)))?0:1)' ||
  stop "Node $(node --version) is too old" "install Node.js 20.18.1 or newer (https://nodejs.org)"

# --- 1. Debian packages: command each provides → package ---
# redis-server: the tests' Redis when none answers at REDIS_URL, and the nodes of the Sentinel
# group and Redis Cluster the HA tests start; redis-sentinel (its own Debian package): their
# sentinels; redis-tools (redis-cli, a dependency of redis-server): `--cluster create`; git: tarball fixtures and the
# CLI's remote; openssl: the registry token service's keys; docker-registry: the CNCF
# Distribution server the image tests start; cmark-gfm: GitHub's Markdown renderer, which the
# comment tests render previews with.
missing=()
need() { command -v "$1" >/dev/null 2>&1 || missing+=("$2"); }
need redis-server redis-server
need redis-sentinel redis-sentinel
need redis-cli redis-tools
need git git
need openssl openssl
if [ -n "${MERGEOPS_TEST_REGISTRY_BIN:-}" ]; then
  [ -x "$MERGEOPS_TEST_REGISTRY_BIN" ] || stop "MERGEOPS_TEST_REGISTRY_BIN=$MERGEOPS_TEST_REGISTRY_BIN is not an executable" "unset MERGEOPS_TEST_REGISTRY_BIN, or point it at a CNCF Distribution (registry) binary"
else
  need docker-registry docker-registry
fi
need cmark-gfm cmark-gfm

if [ ${#missing[@]} -gt 0 ]; then
  if ! command -v apt-get >/dev/null 2>&1; then
    stop "missing ${missing[*]} (commands: redis-server, redis-sentinel, redis-cli, git, openssl, docker-registry, cmark-gfm), and this machine has no apt-get" \
      "install the packages that provide them with your package manager (Debian/Ubuntu names: ${missing[*]})"
  fi
  if [ "$(id -u)" != "0" ]; then
    stop "missing Debian packages: ${missing[*]} (installing them needs root)" "sudo apt-get install -y ${missing[*]}"
  fi
  log "installing ${missing[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || stop "apt-get update failed" "apt-get update && apt-get install -y ${missing[*]}"
  apt-get install -y -qq "${missing[@]}" >&2 || stop "apt-get install failed" "apt-get install -y ${missing[*]}"
fi

# --- 2. Node dependencies ---
# npm writes node_modules/.package-lock.json on every install: older than the lockfile means
# someone changed the dependencies since (a pull, a merge).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  command -v npm >/dev/null || stop "npm is not installed" "install npm (it ships with Node.js)"
  log "installing Node dependencies (npm ci)"
  npm ci --no-audit --no-fund >&2 || stop "npm ci failed (see above)" "npm ci"
fi

# --- 3. The binaries (built once, cached by version) ---
bash "$ROOT/scripts/setup-test-env.sh"
