#!/usr/bin/env bash
# Stock-client checks with the official Python server SDK (`pusher`): it verifies every
# webhook POST (`validate_webhook`), triggers events and authenticates channels.
#
#   tests/python/run.sh BINARY
#
# Installs the pinned packages (requirements.txt) into a virtual environment under target/
# when it is missing or the pins changed. Exits non-zero if any check fails; the last line is
# `N passed, N failed`.
set -u

[ $# -eq 1 ] || { echo "usage: $0 SERVER_BINARY" >&2; exit 2; }
binary="$1"
if [ ! -x "$binary" ]; then
  echo "not an executable file: $binary" >&2
  exit 2
fi
binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"

here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/../../target/python-venv"
stamp="$venv/.requirements-sha256"
want="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$want" != "$(cat "$stamp" 2>/dev/null || true)" ]; then
  echo "# pip install -r requirements.txt"
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >"$here/pip.log" 2>&1 ||
     ! "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >>"$here/pip.log" 2>&1; then
    cat "$here/pip.log" >&2
    rm -f "$here/pip.log"
    echo "installing the Python SDK failed" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
  rm -f "$here/pip.log"
  echo "$want" >"$stamp"
fi

exec "$venv/bin/python" "$here/compat_webhooks.py" "$binary"
