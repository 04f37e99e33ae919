#!/usr/bin/env bash
# TLS against plain on this machine: the same corecast process serves TLS on its port and plain
# WebSocket/HTTP on CORECAST_PLAIN_PORT, and the same load runs against each.
#
#   tuning/tls.sh [--runs N] [--quick]
#
# The server runs with one shard pinned to core 0 (taskset), the load generator with one thread
# pinned to core 1. Rows: fan-out 1k subscribers / 1 channel at the maximum REST rate (REST over
# http or https), and opening 5,000 connections (full TLS handshakes; memory per connection from
# a fresh server each run). Every row runs N times (default 3); medians are printed. The server's
# CPU time per delivery and per connection (from /proc/PID/stat) is printed too: on a shared
# machine it varies much less than the rates do.
set -euo pipefail

runs=3
dur=10
while [[ $# -gt 0 ]]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --quick) dur=3; shift ;;
        *) echo "usage: tuning/tls.sh [--runs N] [--quick]" >&2; exit 2 ;;
    esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p corecast -p corecast-loadtest
bin=$root/target/release
tls_port=6301
plain_port=6302
work=$(mktemp -d)
server_pid=
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

(
    cd "$work"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj "/CN=tuning CA" -keyout ca.key -out ca.pem
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
        -keyout server.key -out server.csr
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 1 -days 1 \
        -extfile san.ext -out server.pem
) > "$work/openssl.log" 2>&1

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "tls.sh: nothing listens on port $1" >&2
    return 1
}

start() {
    CORECAST_HOST=127.0.0.1 CORECAST_PORT=$tls_port CORECAST_PLAIN_PORT=$plain_port \
        CORECAST_TLS_CERT="$work/server.pem" CORECAST_TLS_KEY="$work/server.key" \
        CORECAST_SHARDS=1 CORECAST_LOG=warn taskset -c 0 "$bin/corecast" >> "$work/corecast.log" 2>&1 &
    server_pid=$!
    wait_port $tls_port
}

stop() {
    kill "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    sleep 1
    server_pid=
}

ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
tick_us=$((1000000 / $(getconf CLK_TCK)))

url() { # plain|tls
    if [[ $1 == tls ]]; then
        echo "--url wss://localhost:$tls_port --ca $work/ca.pem"
    else
        echo "--url ws://127.0.0.1:$plain_port"
    fi
}

load() { # name mode args...
    local name=$1 mode=$2 i; shift 2
    for i in $(seq 1 "$runs"); do
        local t0
        t0=$(ticks)
        # shellcheck disable=SC2046
        taskset -c 1 "$bin/corecast-loadtest" "$@" $(url "$mode") --app-id app-id --key app-key \
            --secret app-secret --threads 1 --json 2>/dev/null | tail -n1 \
            > "$work/$name.$mode.$i.json" || echo '{}' > "$work/$name.$mode.$i.json"
        echo $((($(ticks) - t0) * tick_us)) > "$work/$name.$mode.$i.cpu"
    done
}

start
for mode in plain tls; do
    load fanout1k "$mode" fanout --connections 1000 --channels 1 --rate max --payload 100 --duration "$dur"
done
stop
for mode in plain tls; do
    for i in $(seq 1 "$runs"); do
        start
        t0=$(ticks)
        # shellcheck disable=SC2046
        taskset -c 1 "$bin/corecast-loadtest" connect --connections 5000 --hold 2 \
            --server-pid "$server_pid" $(url "$mode") --app-id app-id --key app-key \
            --secret app-secret --threads 1 --json 2>/dev/null | tail -n1 \
            > "$work/connect.$mode.$i.json" || echo '{}' > "$work/connect.$mode.$i.json"
        echo $((($(ticks) - t0) * tick_us)) > "$work/connect.$mode.$i.cpu"
        stop
    done
done

python3 - "$work" "$runs" "$dur" <<'PY'
import json, statistics, sys
work, runs, dur = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
def one(scen, mode, i, path):
    if path == "cpu_us_per_1k_deliveries":
        cpu = float(open(f"{work}/{scen}.{mode}.{i}.cpu").read())
        r = json.load(open(f"{work}/{scen}.{mode}.{i}.json"))
        return cpu / (r["deliveries_per_sec"] * dur) * 1000
    if path == "cpu_us_per_connection":
        return float(open(f"{work}/{scen}.{mode}.{i}.cpu").read()) / 5000
    v = json.load(open(f"{work}/{scen}.{mode}.{i}.json"))
    for k in path.split("."):
        v = v[k]
    return v
def vals(scen, mode, path):
    out = []
    for i in range(1, runs + 1):
        try:
            v = one(scen, mode, i, path)
            if v is not None:
                out.append(float(v))
        except Exception:
            pass
    return out
rows = [
    ("fan-out 1k subs / 1 channel, deliveries/s", "fanout1k", "deliveries_per_sec"),
    ("fan-out 1k subs / 1 channel, REST publishes/s", "fanout1k", "publishes_per_sec"),
    ("fan-out 1k subs / 1 channel, p99 µs", "fanout1k", "latency_us.p99"),
    ("fan-out 1k, load generator CPU %", "fanout1k", "client_cpu_percent"),
    ("fan-out 1k, server CPU µs per 1,000 deliveries", "fanout1k", "cpu_us_per_1k_deliveries"),
    ("connect 5,000, handshakes/s", "connect", "connections_per_sec"),
    ("connect 5,000, handshake p50 µs", "connect", "handshake_us.p50"),
    ("connect 5,000, server RSS per connection, bytes", "connect", "server_rss_per_conn_bytes"),
    ("connect 5,000, load generator CPU %", "connect", "client_cpu_percent"),
    ("connect 5,000, server CPU µs per connection", "connect", "cpu_us_per_connection"),
]
print(f"| row (median of {runs}; all runs) | plain | TLS | TLS / plain |")
print("|---|---:|---:|---:|")
for label, scen, path in rows:
    p, t = vals(scen, "plain", path), vals(scen, "tls", path)
    mp = statistics.median(p) if p else None
    mt = statistics.median(t) if t else None
    ratio = f"{mt / mp:.2f}" if mp and mt else "–"
    fmt = lambda m, xs: "–" if m is None else f"{m:,.0f} ({', '.join(f'{x:,.0f}' for x in xs)})"
    print(f"| {label} | {fmt(mp, p)} | {fmt(mt, t)} | {ratio} |")
PY
