#!/usr/bin/env bash
# RFC 6455 conformance: runs the Autobahn|Testsuite fuzzingclient against corecast's raw
# endpoint (an echo when one member joins with notify_self) and compares every case with the
# committed expectations in expected.json.
#
#   tests/autobahn/run.sh [path/to/corecast]
#
# Without an argument the release binary is built first. The server is started on a free
# loopback port and stopped at the end.
#
# Environment (all optional):
#   AUTOBAHN_CASES            comma-separated case patterns to run        (default: *)
#   AUTOBAHN_EXCLUDE          comma-separated case patterns to skip       (default: 12.*,13.*;
#                             corecast never negotiates permessage-deflate)
#   AUTOBAHN_OUT              report directory                            (default: <here>/reports)
#   AUTOBAHN_TIMEOUT          limit for the whole fuzzing run, seconds    (default: 1800)
#   AUTOBAHN_PYTHON2          path to a CPython 2.7 interpreter           (default: searched)
#   AUTOBAHN_UPDATE_EXPECTED  1: rewrite expected.json from this run's results
#
# A case passes when its behaviour is OK, NON-STRICT or INFORMATIONAL and equals its expected
# behaviour (NON-STRICT counts as OK: it can flip with timing), or is UNIMPLEMENTED in the
# compression sections 12.* / 13.* when those are run. The last line printed is
# "N passed, N failed". Exit status: 0 all passed, 1 some failed, 2 harness error.
#
# autobahntestsuite is Python-2-only code, so wstest runs in a Python 2.7 virtualenv (.venv)
# built from requirements-py27.txt (PyPI); a small Python 3 venv (.py3) holds the last
# virtualenv release that can still create one.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
venv=$here/.venv
py3=$here/.py3
out=${AUTOBAHN_OUT:-$here/reports}
cases=${AUTOBAHN_CASES:-*}
exclude=${AUTOBAHN_EXCLUDE-12.*,13.*}
limit=${AUTOBAHN_TIMEOUT:-1800}
agent=corecast
expected=$here/expected.json

harness_error() {
    echo "autobahn: $*" >&2
    exit 2
}

find_python2() {
    local c
    for c in "${AUTOBAHN_PYTHON2:-}" "$(command -v python2.7 || true)" \
             "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7*/bin/python2.7 \
             /usr/bin/python2.7 /usr/local/bin/python2.7; do
        if [[ -n "$c" && -x "$c" ]] && "$c" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

ensure_venv() {
    if [[ -x "$venv/bin/wstest" ]] && "$venv/bin/wstest" --help >/dev/null 2>&1; then
        return 0
    fi
    local py2
    py2=$(find_python2) || harness_error "no CPython 2.7 found (set AUTOBAHN_PYTHON2); autobahntestsuite does not run on Python 3"
    echo "autobahn: creating $venv with $py2" >&2
    rm -rf "$venv"
    if [[ ! -x "$py3/bin/virtualenv" ]]; then
        python3 -m venv "$py3"
        # virtualenv 20.22 dropped creating Python 2.7 environments.
        "$py3/bin/pip" install -q "virtualenv<20.22"
    fi
    "$py3/bin/virtualenv" -q -p "$py2" "$venv"
    "$venv/bin/pip" install -q --no-python-version-warning -r "$here/requirements-py27.txt"
    "$venv/bin/wstest" --help >/dev/null
}

# --- the server -----------------------------------------------------------------------------
bin=${1:-}
if [[ -z "$bin" ]]; then
    echo "autobahn: building the release binary" >&2
    (cd "$root" && cargo build --release --quiet --bin corecast) || harness_error "cargo build failed"
    target_dir=$(cd "$root" && cargo metadata --format-version 1 --no-deps 2>/dev/null |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])') ||
        target_dir=$root/target
    bin=$target_dir/release/corecast
fi
[[ -x "$bin" ]] || harness_error "no executable at $bin"

ensure_venv
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/index.json "$out"/index.html "$out"/*_case_*.json "$out"/*_case_*.html

server_log=$out/server.log
server_pid=
stop_server() {
    if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
}
trap stop_server EXIT

# Messages up to 16 MiB (cases 9.*), no rate limit, and an outbox that holds a 16 MiB echo.
env -u CORECAST_APPS_FILE \
    CORECAST_HOST=127.0.0.1 CORECAST_PORT=0 CORECAST_SHARDS=2 \
    CORECAST_APP_KEY=app-key CORECAST_LOG=warn \
    CORECAST_RAW_MAX_MESSAGE_KB=16384 CORECAST_RAW_MAX_MESSAGES_PER_SECOND=0 \
    CORECAST_MAX_OUTBOX_KB=65536 \
    "$bin" >"$server_log" 2>&1 &
server_pid=$!

port=
for _ in $(seq 100); do
    port=$(sed -n 's/^  listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$server_log" | head -n1)
    [[ -n "$port" ]] && break
    kill -0 "$server_pid" 2>/dev/null || harness_error "corecast exited at start; see $server_log"
    sleep 0.1
done
[[ -n "$port" ]] || harness_error "corecast did not report its port; see $server_log"
url="ws://127.0.0.1:$port/v3/autobahn?api_key=app-key&notify_self=1"

# --- the fuzzing run ------------------------------------------------------------------------
spec=$out/fuzzingclient.json
python3 - "$spec" "$out" "$agent" "$url" "$cases" "$exclude" <<'EOF'
import json, sys
spec, out, agent, url, cases, exclude = sys.argv[1:]
split = lambda s: [p.strip() for p in s.split(",") if p.strip()]
json.dump({
    "options": {"failByDrop": False},
    "outdir": out,
    "servers": [{"agent": agent, "url": url}],
    "cases": split(cases),
    "exclude-cases": split(exclude),
    "exclude-agent-cases": {},
}, open(spec, "w"), indent=2)
EOF

echo "autobahn: fuzzingclient -> $url (cases: $cases; excluded: ${exclude:-none}); log: $out/wstest.log" >&2
start=$(date +%s)
set +e
(cd "$out" && timeout "$limit" "$venv/bin/wstest" -m fuzzingclient -s "$spec") >"$out/wstest.log" 2>&1
rc=$?
set -e
echo "autobahn: wstest exited $rc after $(( $(date +%s) - start ))s" >&2
[[ $rc -ne 124 ]] || harness_error "timed out after ${limit}s; see $out/wstest.log"
kill -0 "$server_pid" 2>/dev/null || harness_error "corecast died during the run; see $server_log"
stop_server

# --- the verdict ----------------------------------------------------------------------------
python3 - "$out/index.json" "$agent" "$expected" "${AUTOBAHN_UPDATE_EXPECTED:-0}" "$cases" "$exclude" <<'EOF'
import collections, fnmatch, json, sys

path, agent, expected_path, update, cases, exclude = sys.argv[1:]
try:
    results = json.load(open(path))[agent]
except (OSError, ValueError, KeyError) as e:
    print(f"autobahn: no usable report at {path}: {e!r}", file=sys.stderr)
    sys.exit(2)
if not results:
    print("autobahn: report lists no cases", file=sys.stderr)
    sys.exit(2)

def key(case_id):
    return tuple(int(p) for p in case_id.split("."))

if update == "1":
    table = {c: [results[c]["behavior"], results[c]["behaviorClose"]] for c in sorted(results, key=key)}
    with open(expected_path, "w") as f:
        f.write("{\n" + ",\n".join(f"  {json.dumps(c)}: {json.dumps(v)}" for c, v in table.items()) + "\n}\n")
    print(f"autobahn: wrote {len(table)} expectations to {expected_path}", file=sys.stderr)

try:
    expected = json.load(open(expected_path))
except (OSError, ValueError) as e:
    print(f"autobahn: cannot read {expected_path}: {e!r}", file=sys.stderr)
    sys.exit(2)

split = lambda s: [p.strip() for p in s.split(",") if p.strip()]
selected = lambda c: any(fnmatch.fnmatch(c, p) for p in split(cases)) and not any(
    fnmatch.fnmatch(c, p) for p in split(exclude))
PASS = {"OK", "NON-STRICT", "INFORMATIONAL"}
norm = lambda b: "OK" if b == "NON-STRICT" else b

behaviour = collections.Counter()
failed = []
for cid in sorted(results, key=key):
    got = results[cid]["behavior"]
    behaviour[got] += 1
    want = expected.get(cid, [None])[0]
    if got == "UNIMPLEMENTED" and cid.split(".")[0] in ("12", "13"):
        continue  # permessage-deflate is never negotiated
    if got not in PASS:
        failed.append(f"{cid} ({got})")
    elif want is None:
        failed.append(f"{cid} (no expectation)")
    elif norm(got) != norm(want):
        failed.append(f"{cid} ({got}, expected {want})")
missing = sorted((c for c in expected if selected(c) and c not in results), key=key)
failed += [f"{c} (not run)" for c in missing]

order = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
print(f"autobahn: {len(results)} cases")
for b in order + sorted(set(behaviour) - set(order)):
    print(f"  {b:<14} {behaviour[b]}")
if failed:
    print("  failed: " + " ".join(failed[:40]) + (" ..." if len(failed) > 40 else ""))
    print(f"  details: {path.rsplit('/', 1)[0]}/index.html")
total = len(results) + len(missing)
print(f"{total - len(failed)} passed, {len(failed)} failed")
sys.exit(1 if failed else 0)
EOF
