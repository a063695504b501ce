#!/usr/bin/env bash
# One command to run mergeops locally: builds, makes sure Redis answers, starts the app.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
[ -d node_modules ] || npm ci
npm run --silent build
url="${REDIS_URL:-redis://127.0.0.1:6379}"
if [ -f .env ]; then url="$(grep -E '^REDIS_URL=.+' .env | cut -d= -f2- || echo "$url")"; url="${url:-redis://127.0.0.1:6379}"; fi
# Setup mode (no APP_ID yet: the first run registers the GitHub App) needs no Redis.
app_id="${APP_ID:-}"
if [ -z "$app_id" ] && [ -f .env ]; then app_id="$(grep -E '^APP_ID=.+' .env | cut -d= -f2- || true)"; fi
if [ -n "$app_id" ] && ! redis-cli -u "$url" ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null; then
    port="$(echo "$url" | sed -E 's#.*:([0-9]+)/?.*#\1#')"
    echo "[mergeops] no Redis at $url; starting a local redis-server on port $port" >&2
    redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save "" --appendonly no >/dev/null
  else
    echo "[mergeops] no Redis answers at $url and redis-server is not installed (apt-get install redis-server)" >&2
    exit 1
  fi
fi
exec node dist/main.js
