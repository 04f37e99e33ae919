#!/usr/bin/env bash
# A few seconds of each load generator scenario against a real corecast: the loadtest's JSON
# report must show traffic, no loss, no reordering and no failures.
#
#   tests/loadtest-smoke.sh SERVER_BINARY LOADTEST_BINARY
set -euo pipefail
server=${1:?usage: $0 SERVER_BINARY LOADTEST_BINARY}
loadtest=${2:?usage: $0 SERVER_BINARY LOADTEST_BINARY}

log=$(mktemp)
CORECAST_HOST=127.0.0.1 CORECAST_PORT=0 CORECAST_SHARDS=2 CORECAST_LOG=warn \
    CORECAST_ENABLE_CLIENT_MESSAGES=true "$server" > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
    [[ -n $port ]] && break
    sleep 0.1
done
[[ -n $port ]] || { echo "loadtest smoke: the server did not start"; cat "$log"; exit 1; }

target=(--url "ws://127.0.0.1:$port" --app-id app-id --key app-key --secret app-secret --quiet --json)
passed=0
failed=0
check() { # name python-condition args...
    local name=$1 cond=$2; shift 2
    local out
    out=$("$loadtest" "$@" "${target[@]}" 2>/dev/null | tail -n1) || true
    if python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if ($cond) else 1)" "$out" 2>/dev/null; then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: $out"
        failed=$((failed + 1))
    fi
}

check "fanout over REST" \
    "r['deliveries_per_sec'] > 0 and r['lost'] == 0 and r['out_of_order'] == 0" \
    fanout --connections 50 --channels 2 --rate 200 --duration 2 --drain 1
check "fanout at max rate" \
    "r['deliveries_per_sec'] > 0 and r['lost'] == 0 and r['out_of_order'] == 0" \
    fanout --connections 100 --channels 1 --rate max --duration 2 --drain 1
check "fanout with pipelined REST publishes" \
    "r['deliveries_per_sec'] > 0 and r['lost'] == 0 and r['out_of_order'] == 0 and not r['publish_failures'] and r['pipeline'] == 8" \
    fanout --connections 20 --channels 3 --rate max --inflight 16 --pipeline 8 --duration 2 --drain 1
check "fanout over client events" \
    "r['deliveries_per_sec'] > 0 and r['lost'] == 0 and r['out_of_order'] == 0" \
    fanout --connections 20 --channels 2 --publish client --rate 20 --duration 2 --drain 1
check "connect" \
    "r['connections_per_sec'] > 0 and not r['failures'] and r['server_rss_per_conn_bytes'] is not None" \
    connect --connections 200 --duration 2 --hold 1 --server-pid "$pid"
check "presence churn" \
    "r['missed'] == 0 and r['duplicated'] == 0 and r['joins'] > 0" \
    presence --users 20 --channels 2 --duration 2 --drain 1

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
