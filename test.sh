#!/usr/bin/env bash
# The tests of gantry, against the real services they need, on a fresh
# Debian machine or a developer's: what is missing (redis-server, git, bash,
# Chromium) is installed with apt-get when this runs as root or with sudo,
# and otherwise named with the command that installs it. A Redis is started
# on 127.0.0.1:6379 if none answers there. Then `go test ./...` runs, with
# any arguments given here (./test.sh -race -run TestConsole).
#
# The tests start a redis-server of their own per test; without one they
# fail, never fall back to an embedded Redis unless asked to with
# GANTRY_TEST_EMBEDDED_REDIS=1.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '== %s\n' "$*" >&2; }

# Module downloads: the proxy only; a failed "direct" fallback cannot help here.
if command -v go >/dev/null 2>&1; then
  export GOPROXY="${GOPROXY:-$(go env GOPROXY)}"
  export GOPROXY="${GOPROXY%,direct}"
fi

sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
fi
can_install() { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }

missing=()
for need in go:golang redis-server:redis-server redis-cli:redis-tools git:git bash:bash chromium:chromium; do
  command -v "${need%%:*}" >/dev/null 2>&1 || missing+=("${need#*:}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if printf '%s\n' "${missing[@]}" | grep -qx golang; then
    say "go is not on PATH: install Go 1.26 or newer first"
    exit 1
  fi
  if ! can_install || ! command -v apt-get >/dev/null 2>&1; then
    say "the tests need: ${missing[*]}"
    say "install them (Debian: sudo apt-get install ${missing[*]}) and run ./test.sh again"
    exit 1
  fi
  say "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  say "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --logfile "${TMPDIR:-/tmp}/gantry-test-redis.log"
  for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-cli -h 127.0.0.1 ping >/dev/null
fi

say "go test $* ./..."
exec go test "$@" ./...
