#!/usr/bin/env bash
# Side-by-side measurement of corecast and another Pusher-compatible server on this machine.
#
#   tuning/compare.sh [--runs N] [--quick] [--plot DIR] 'SERVER_CMD'
#
# SERVER_CMD is run with bash; it must start the other server listening on 127.0.0.1:$PEER_PORT
# with app id `app-id`, key `app-key`, secret `app-secret`. Example (Sockudo, with the
# configuration in this folder; a clean environment keeps its variables from overriding it):
#   tuning/compare.sh "cd /tmp && exec env -i PATH=\"\$PATH\" HOME=\"\$HOME\" HOST=127.0.0.1 \
#       PORT=\$PEER_PORT sockudo --config $PWD/tuning/sockudo.toml"
#
# Each server runs alone, pinned to core 0 (taskset; corecast with one shard); the load
# generator runs pinned to core 1. Every scenario runs N times (default 3) per server and the
# median is reported, with the ratio corecast / other.
#
# With --plot DIR, every fan-out run also writes its picture (latency percentile curve and
# deliveries per second) to DIR/SERVER.SCENARIO.RUN.svg, and DIR/SCENARIO.svg shows both
# servers' median runs (by deliveries/s) on one picture.
set -euo pipefail

runs=3
quick=0
plot_dir=
while [[ $# -gt 1 ]]; do
    case $1 in
        --runs) runs=$2; shift 2 ;;
        --quick) quick=1; shift ;;
        --plot) plot_dir=$2; shift 2 ;;
        *) break ;;
    esac
done
peer_cmd=${1:?usage: compare.sh [--runs N] [--quick] [--plot DIR] SERVER_CMD}
if [[ -n $plot_dir ]]; then
    mkdir -p "$plot_dir"
    plot_dir=$(cd "$plot_dir" && pwd)
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p corecast -p corecast-loadtest
bin=$root/target/release
core_port=6201
export PEER_PORT=6202
dur=10
[[ $quick == 1 ]] && dur=3

work=$(mktemp -d)
server_pid=
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

wait_port() {
    for _ in $(seq 1 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "compare: nothing listens on port $1" >&2
    return 1
}

# The server's main pid (the command may be a wrapper shell).
main_pid() {
    local pid=$1 child
    while child=$(pgrep -P "$pid" | head -n1) && [[ -n $child ]]; do pid=$child; done
    echo "$pid"
}

load() { # name port args...
    local name=$1 port=$2 i; shift 2
    for i in $(seq 1 "$runs"); do
        local plot=()
        [[ -n $plot_dir && $1 == fanout ]] && plot=(--plot "$plot_dir/$name.$i.svg")
        taskset -c 1 "$bin/corecast-loadtest" "$@" --url "ws://127.0.0.1:$port" --app-id app-id \
            --key app-key --secret app-secret --threads 1 --json "${plot[@]}" 2>/dev/null | tail -n1 \
            > "$work/$name.$i.json" || echo '{}' > "$work/$name.$i.json"
    done
}

start_corecast() {
    CORECAST_HOST=127.0.0.1 CORECAST_PORT=$core_port CORECAST_SHARDS=1 CORECAST_LOG=warn \
        CORECAST_ENABLE_CLIENT_MESSAGES=true taskset -c 0 "$bin/corecast" >> "$work/corecast.log" 2>&1 &
    server_pid=$!
    wait_port $core_port
}

start_peer() {
    taskset -c 0 bash -c "$peer_cmd" >> "$work/peer.log" 2>&1 &
    server_pid=$!
    wait_port "$PEER_PORT"
    sleep 1
}

stop_server() {
    local pid
    pid=$(main_pid "$server_pid")
    kill "$pid" "$server_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    sleep 1
    server_pid=
}

scenarios() { # label port start-function
    local label=$1 port=$2 start=$3 i
    $start
    load "$label.fanout1k" "$port" fanout --connections 1000 --channels 1 --rate max --payload 100 --duration "$dur"
    load "$label.fanout5k" "$port" fanout --connections 5000 --channels 100 --rate max --payload 100 --duration "$dur"
    load "$label.fixed125k" "$port" fanout --connections 1000 --channels 1 --rate 125 --payload 100 --duration "$dur"
    load "$label.rest" "$port" fanout --connections 1 --channels 1 --rate max --payload 100 --duration "$dur"
    load "$label.restpipe" "$port" fanout --connections 1 --channels 1 --rate max --payload 100 --pipeline 8 --duration "$dur"
    stop_server
    # Memory per connection is measured on a fresh server each run.
    for i in $(seq 1 "$runs"); do
        $start
        taskset -c 1 "$bin/corecast-loadtest" connect --connections 5000 --hold 2 \
            --server-pid "$(main_pid "$server_pid")" --url "ws://127.0.0.1:$port" --app-id app-id \
            --key app-key --secret app-secret --threads 1 --json 2>/dev/null | tail -n1 \
            > "$work/$label.connect.$i.json" || echo '{}' > "$work/$label.connect.$i.json"
        stop_server
    done
}

echo "compare: corecast (1 shard on core 0)" >&2
scenarios corecast $core_port start_corecast
echo "compare: other server (core 0): $peer_cmd" >&2
scenarios other "$PEER_PORT" start_peer

python3 - "$work" "$runs" <<'PY'
import json, statistics, sys
work, runs = sys.argv[1], int(sys.argv[2])
def med(label, scen, path):
    vals = []
    for i in range(1, runs + 1):
        try:
            v = json.load(open(f"{work}/{label}.{scen}.{i}.json"))
            for k in path.split("."):
                v = v[k]
            if v is not None:
                vals.append(float(v))
        except Exception:
            pass
    return statistics.median(vals) if vals else None
rows = [
    ("fan-out 1k subs / 1 channel, deliveries/s", "fanout1k", "deliveries_per_sec", True),
    ("fan-out 1k subs / 1 channel, p99 µs", "fanout1k", "latency_us.p99", False),
    ("fan-out 5k subs / 100 channels, deliveries/s", "fanout5k", "deliveries_per_sec", True),
    ("fan-out 5k subs / 100 channels, REST publishes/s", "fanout5k", "publishes_per_sec", True),
    ("fixed 125 publishes/s × 1k subs, p99 µs", "fixed125k", "latency_us.p99", False),
    ("REST alone (1 subscriber), publishes/s, 64 connections", "rest", "publishes_per_sec", True),
    ("REST alone, publishes/s, 8 pipelined per connection", "restpipe", "publishes_per_sec", True),
    ("fan-out 1k subs / 1 channel, load generator CPU %", "fanout1k", "client_cpu_percent", None),
    ("fixed 125 publishes/s, load generator CPU %", "fixed125k", "client_cpu_percent", None),
    ("fan-out 5k subs / 100 channels, load generator CPU %", "fanout5k", "client_cpu_percent", None),
    ("REST alone, 64 connections, load generator CPU %", "rest", "client_cpu_percent", None),
    ("connect 5k, load generator CPU %", "connect", "client_cpu_percent", None),
    ("connect 5k, connections/s", "connect", "connections_per_sec", True),
    ("connect 5k, server RSS per idle subscribed conn, bytes", "connect", "server_rss_per_conn_bytes", False),
]
print(f"{'figure (median of %d runs)' % runs:58} {'corecast':>12} {'other':>12} {'ratio':>8}")
for name, scen, path, higher in rows:
    a, b = med("corecast", scen, path), med("other", scen, path)
    fa = f"{a:,.0f}" if a is not None else "-"
    fb = f"{b:,.0f}" if b is not None else "-"
    ratio = "-"
    if higher is None:
        pass
    elif a and b:
        ratio = f"{a / b:.2f}×" if higher else f"{b / a:.2f}× better" if a < b else f"{a / b:.2f}× worse"
    print(f"{name:58} {fa:>12} {fb:>12} {ratio:>8}")
PY

# One picture per fan-out scenario with both servers' median runs.
if [[ -n $plot_dir ]]; then
    for scen in fanout1k fanout5k fixed125k rest restpipe; do
        picked=()
        for label in corecast other; do
            file=$(python3 - "$work" "$label" "$scen" "$runs" <<'PY'
import json, sys
work, label, scen, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
done = []
for i in range(1, runs + 1):
    path = f"{work}/{label}.{scen}.{i}.json"
    try:
        r = json.load(open(path))
        if r.get("plot"):
            done.append((r["deliveries_per_sec"], path))
    except Exception:
        pass
if done:
    print(sorted(done)[len(done) // 2][1])
PY
            )
            [[ -n $file ]] && picked+=("$label=$file")
        done
        if [[ ${#picked[@]} -gt 0 ]]; then
            "$bin/corecast-loadtest" plot --out "$plot_dir/$scen.svg" "${picked[@]}" \
                && echo "compare: $plot_dir/$scen.svg" >&2
        fi
    done
fi
