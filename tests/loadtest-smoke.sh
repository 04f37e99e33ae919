#!/usr/bin/env bash
# A few seconds of each load generator scenario against a real corecast: the loadtest's JSON
# report must show traffic, no loss, no reordering and no failures. The credentials are left to
# their defaults (the server's default app), and --plot / plot must write valid SVG pictures.
# Then two cluster nodes on one throw-away redis-server: subscribers spread over both nodes,
# publishes to one, and every node's subscribers must get every event once and in order.
#
#   tests/loadtest-smoke.sh SERVER_BINARY LOADTEST_BINARY
set -euo pipefail
server=${1:?usage: $0 SERVER_BINARY LOADTEST_BINARY}
loadtest=${2:?usage: $0 SERVER_BINARY LOADTEST_BINARY}

dir=$(mktemp -d)
log=$dir/server.log
CORECAST_HOST=127.0.0.1 CORECAST_PORT=0 CORECAST_SHARDS=2 CORECAST_LOG=warn \
    CORECAST_ENABLE_CLIENT_MESSAGES=true "$server" > "$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log")
    [[ -n $port ]] && break
    sleep 0.1
done
[[ -n $port ]] || { echo "loadtest smoke: the server did not start"; cat "$log"; exit 1; }

target=(--url "ws://127.0.0.1:$port" --quiet --json)
passed=0
failed=0
check() { # name python-condition args...
    local name=$1 cond=$2; shift 2
    local out
    out=$("$loadtest" "$@" "${target[@]}" 2>/dev/null | tail -n1) || true
    echo "$out" > "$dir/last.json"
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
check "fanout with --plot" \
    "r['deliveries_per_sec'] > 0 and r['lost'] == 0 and len(r['plot']['deliveries_per_sec']) >= 1 and len(r['plot']['latency_percentiles_us']) >= 10" \
    fanout --connections 50 --channels 2 --rate 200 --duration 2 --drain 1 --plot "$dir/run.svg"
cp "$dir/last.json" "$dir/run.json"

# An SVG document with both charts, their axis titles and at least `lines` drawn lines.
svg_ok() { # name file lines
    local name=$1 file=$2 lines=$3
    if python3 - "$file" "$lines" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
ns = "{http://www.w3.org/2000/svg}"
text = " ".join(t.text or "" for t in root.iter(ns + "text"))
need = ["Latency by percentile", "Deliveries per second", "latency (ms, log scale)",
        "deliveries per second", "time since publishing started (s)"]
assert root.tag == ns + "svg", root.tag
assert all(n in text for n in need), text
assert len(list(root.iter(ns + "polyline"))) >= int(sys.argv[2])
PY
    then
        echo "ok   $name"
        passed=$((passed + 1))
    else
        echo "FAIL $name: $file is not the expected SVG"
        failed=$((failed + 1))
    fi
}
svg_ok "--plot writes an SVG picture" "$dir/run.svg" 2
if "$loadtest" plot --out "$dir/both.svg" "first=$dir/run.json" "again=$dir/run.json"; then
    svg_ok "plot draws saved reports on one picture" "$dir/both.svg" 4
else
    echo "FAIL plot subcommand"
    failed=$((failed + 1))
fi

# The same generator over TLS: a server with a certificate from a throw-away CA, wss:// and
# https REST from the generator, which trusts that CA (--ca).
tls_dir=$(mktemp -d)
tls_log=$(mktemp)
tls_pid=
trap 'kill $pid $tls_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$log" "$tls_log" "$tls_dir"' EXIT
(
    cd "$tls_dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj "/CN=loadtest smoke CA" -keyout ca.key -out ca.pem
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 1 \
        -extfile san.ext -out server.pem
) > "$tls_log" 2>&1 || { echo "loadtest smoke: cannot make test certificates"; cat "$tls_log"; exit 1; }
CORECAST_HOST=127.0.0.1 CORECAST_PORT=0 CORECAST_SHARDS=2 CORECAST_LOG=warn \
    CORECAST_TLS_CERT="$tls_dir/server.pem" CORECAST_TLS_KEY="$tls_dir/server.key" \
    "$server" > "$tls_log" 2>&1 &
tls_pid=$!
port=
for _ in $(seq 1 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tls_log")
    [[ -n $port ]] && break
    sleep 0.1
done
[[ -n $port ]] || { echo "loadtest smoke: the TLS server did not start"; cat "$tls_log"; exit 1; }
target=(--url "wss://localhost:$port" --ca "$tls_dir/ca.pem" --app-id app-id --key app-key
    --secret app-secret --quiet --json)
check "fanout over TLS at max rate (https REST)" \
    "r['deliveries_per_sec'] > 0 and r['lost'] == 0 and r['out_of_order'] == 0 and not r['publish_failures']" \
    fanout --connections 100 --channels 1 --rate max --duration 2 --drain 1
check "fanout over TLS with pipelined https publishes" \
    "r['deliveries_per_sec'] > 0 and r['lost'] == 0 and r['out_of_order'] == 0 and not r['publish_failures']" \
    fanout --connections 20 --channels 3 --rate max --inflight 16 --pipeline 8 --duration 2 --drain 1
check "connect over TLS" \
    "r['connections_per_sec'] > 0 and not r['failures'] and r['server_rss_per_conn_bytes'] is not None" \
    connect --connections 200 --duration 2 --hold 1 --server-pid "$tls_pid"

# Two cluster nodes on one Redis (no persistence): subscribers over both URLs, publishes to the
# first (or, with --publish-url, only to the node that has no subscribers).
redis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis_log=$(mktemp)
node_a_log=$(mktemp)
node_b_log=$(mktemp)
redis_pid= node_a= node_b=
trap 'kill $pid $tls_pid $node_a $node_b $redis_pid 2>/dev/null; wait 2>/dev/null;
    rm -rf "$dir" "$log" "$tls_log" "$tls_dir" "$redis_log" "$node_a_log" "$node_b_log"' EXIT
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no > "$redis_log" 2>&1 &
redis_pid=$!
for _ in $(seq 1 100); do
    [[ $(redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]] && break
    sleep 0.1
done
[[ $(redis-cli -p "$redis_port" ping 2>/dev/null) == PONG ]] \
    || { echo "loadtest smoke: redis-server did not start"; cat "$redis_log"; exit 1; }
start_node() { # log
    CORECAST_HOST=127.0.0.1 CORECAST_PORT=0 CORECAST_SHARDS=2 CORECAST_LOG=warn \
        CORECAST_REDIS_URL="redis://127.0.0.1:$redis_port" "$server" > "$1" 2>&1 &
}
# The node's port once it listens and its /ready says it reaches Redis.
node_port() { # log
    local p=
    for _ in $(seq 1 150); do
        p=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$1")
        if [[ -n $p ]] && curl -sf -o /dev/null "http://127.0.0.1:$p/ready"; then
            echo "$p"
            return 0
        fi
        sleep 0.1
    done
    return 1
}
start_node "$node_a_log"
node_a=$!
start_node "$node_b_log"
node_b=$!
port_a=$(node_port "$node_a_log") || { echo "loadtest smoke: node A did not start"; cat "$node_a_log"; exit 1; }
port_b=$(node_port "$node_b_log") || { echo "loadtest smoke: node B did not start"; cat "$node_b_log"; exit 1; }
url_a="ws://127.0.0.1:$port_a"
url_b="ws://127.0.0.1:$port_b"
# Every node's subscribers got deliveries, none lost, duplicated or out of order.
per_url_ok="len(r['per_url']) == 2 and all(u['subscribers'] > 0 and u['deliveries'] > 0 and
    u['lost'] == 0 and u['duplicates'] == 0 and u['out_of_order'] == 0 and
    u['deliveries'] == u['expected_deliveries'] and u['latency_us']['count'] == u['deliveries']
    for u in r['per_url'])"
no_loss="r['deliveries_per_sec'] > 0 and r['lost'] == 0 and r['out_of_order'] == 0 and
    r['duplicates'] == 0 and r['deliveries'] == r['expected_deliveries'] and not r['publish_failures']"
target=(--url "$url_a,$url_b" --quiet --json)
check "2-node cluster: fanout over both nodes, publishes to the first" \
    "$no_loss and $per_url_ok and r['publish_url'] == '$url_a' and
    [u['url'] for u in r['per_url']] == ['$url_a', '$url_b']" \
    fanout --connections 50 --channels 2 --rate 500 --duration 2 --drain 2
target=(--url "$url_a" --url "$url_b" --quiet --json)
check "2-node cluster: fanout at max rate over both nodes (repeated --url)" \
    "$no_loss and $per_url_ok" \
    fanout --connections 100 --channels 1 --rate max --inflight 16 --pipeline 8 --duration 2 --drain 2
target=(--url "$url_b" --publish-url "$url_a" --quiet --json)
check "2-node cluster: every delivery crosses nodes (--publish-url)" \
    "$no_loss and r['publish_url'] == '$url_a' and r['url'] == '$url_b'" \
    fanout --connections 20 --channels 2 --rate 200 --duration 2 --drain 2

echo "$passed passed, $failed failed"
[[ $failed == 0 ]]
