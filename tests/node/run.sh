#!/usr/bin/env bash
# Stock-client compatibility tests (pusher-js, the official Node server SDK, Laravel Echo).
#
#   tests/node/run.sh BINARY          core checks and the TLS run (must pass)
#   tests/node/run.sh BINARY --all    also the channel-feature and webhook checks
#
# The TLS run (compat-tls.js) needs the `openssl` command: it makes a throw-away CA and two
# server certificates, and the clients trust that CA through NODE_EXTRA_CA_CERTS.
#
# Installs the pinned packages with `npm ci` when node_modules is missing or does not match
# package-lock.json. Exits non-zero if any check fails; the last line is the combined
# `N passed, N failed`.
set -u

usage() {
  echo "usage: $0 SERVER_BINARY [--all]" >&2
  exit 2
}

binary=""
all=0
for arg in "$@"; do
  case "$arg" in
    --all) all=1 ;;
    -h|--help) usage ;;
    -*) echo "unknown option: $arg" >&2; usage ;;
    *) [ -z "$binary" ] || usage; binary="$arg" ;;
  esac
done
[ -n "$binary" ] || usage
if [ ! -x "$binary" ]; then
  echo "not an executable file: $binary" >&2
  exit 2
fi
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here" || exit 2

# Reinstall when the lock file changed since the last install (or nothing is installed).
stamp="node_modules/.lock-sha256"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ ! -d node_modules ] || [ "$want" != "$have" ]; then
  echo "# npm ci"
  if ! npm ci --no-audit --no-fund >npm-ci.log 2>&1; then
    cat npm-ci.log >&2
    rm -f npm-ci.log
    echo "npm ci failed" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
  rm -f npm-ci.log
  echo "$want" >"$stamp"
fi

scripts=(compat-core.js compat-tls.js)
[ "$all" = 1 ] && scripts+=(compat-channels.js compat-webhooks.js)

# A test CA and two server certificates (serials 0x1001, 0x1002) for localhost/127.0.0.1.
tls_dir="$(mktemp -d)"
trap 'rm -rf "$tls_dir"' EXIT
make_certs() {
  local d="$tls_dir" name serial
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
    -subj "/CN=corecast compat test CA" -keyout "$d/ca.key" -out "$d/ca.pem" || return 1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$d/san.ext"
  for pair in first:0x1001 second:0x1002; do
    name=${pair%%:*}
    serial=${pair##*:}
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
      -keyout "$d/$name.key" -out "$d/$name.csr" || return 1
    openssl x509 -req -in "$d/$name.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -set_serial "$serial" -days 1 -extfile "$d/san.ext" -out "$d/$name.pem" || return 1
  done
  cp "$d/first.pem" "$d/live.pem" && cp "$d/first.key" "$d/live.key"
}
if ! command -v openssl >/dev/null || ! make_certs >"$tls_dir/openssl.log" 2>&1; then
  cat "$tls_dir/openssl.log" >&2 2>/dev/null
  echo "# cannot make the test certificates (is the openssl command installed?)"
  echo "0 passed, 1 failed"
  exit 1
fi
export COMPAT_TLS_DIR="$tls_dir"
export NODE_EXTRA_CA_CERTS="$tls_dir/ca.pem"
COMPAT_PLAIN_PORT="$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
export COMPAT_PLAIN_PORT

total_passed=0
total_failed=0
status=0
for script in "${scripts[@]}"; do
  out="$(mktemp)"
  node "$script" "$binary" | tee "$out"
  rc=${PIPESTATUS[0]}
  last="$(tail -n 1 "$out")"
  rm -f "$out"
  if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    total_passed=$((total_passed + BASH_REMATCH[1]))
    total_failed=$((total_failed + BASH_REMATCH[2]))
  else
    echo "# $script ended without a summary line (exit code $rc)"
    total_failed=$((total_failed + 1))
  fi
  [ "$rc" = 0 ] || status=1
done

echo "${total_passed} passed, ${total_failed} failed"
[ "$total_failed" = 0 ] || status=1
exit "$status"
