#!/usr/bin/env bash
# InfluxQL dashboard queries on ironflux and on InfluxDB 1.6.7 (Debian's `influxdb`, the same TSM
# engine), over the same 10,086,400 points as bench/query/run.sh (10k series x 1,000 points at
# 10 s, plus one series at 1 s over a day), written to each server through the 1.x
# `/write?db=bench` and left to snapshot and compact. Each query is sent as Grafana's InfluxQL
# data source sends it (`GET /query?db=bench&epoch=ms&q=...`, whole JSON answer read back): 2
# warm-up runs, then the median, min and max of 9 runs. The servers run one after the other.
# Prints a markdown table; equal answer hashes mean byte-identical JSON answers.
#
# Usage: bench/query/influxql.sh [SERIES] [POINTS_PER_SERIES]   (defaults 10000 1000)
# Installs Debian's `influxdb` if missing. Honours CARGO_TARGET_DIR for the ironflux build.
# Only 127.0.0.1 is used.
set -euo pipefail
series=${1:-10000}
points=${2:-1000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/ironflux-influxql.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck source=../lib.sh
. "$here/../lib.sh"
need_debian influxdb

echo "building ironflux and the benchmark driver (release)..." >&2
(cd "$root" && cargo build --release --quiet --bin ironflux)
(cd "$here" && CARGO_TARGET_DIR="$here/target" cargo build --release --quiet)
ironflux="${CARGO_TARGET_DIR:-$root/target}/release/ironflux"
driver="$here/target/release/query-bench"

day="time >= '2026-01-01T00:00:00Z' AND time < '2026-01-02T00:00:00Z'"
queries=(
  "(a) last value per series, $series series=SELECT last(v) FROM dash WHERE $day GROUP BY *"
  "(b) mean per minute over a day at 1 s, one series=SELECT mean(v) FROM day WHERE sensor = 's1' AND $day GROUP BY time(1m) fill(none)"
  "(c) filtered mean per 10 min, $((series / 10)) series=SELECT mean(v) FROM dash WHERE rack = 'r3' AND time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T03:00:00Z' GROUP BY time(10m), * fill(none)"
)
rows=()

# --- ironflux
port=18091
url="http://127.0.0.1:$port"
"$ironflux" serve --http-bind-address "127.0.0.1:$port" --data-dir "$work/ironflux" --log-level error \
  --storage-cache-snapshot-write-cold-duration 2s --storage-compact-full-write-cold-duration 5s &
pid=$!
wait_http "$url/health"
setup=$(curl -fs -X POST "$url/api/v2/setup" -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"benchbench","org":"bench","bucket":"bench","token":"benchtoken"}')
ids=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["org"]["id"], d["bucket"]["id"])' <<<"$setup")
read -r org_id bucket_id <<<"$ids"
curl -fs -o /dev/null -X POST "$url/api/v2/dbrps" -H 'Authorization: Token benchtoken' \
  -H 'Content-Type: application/json' \
  -d "{\"orgID\":\"$org_id\",\"bucketID\":\"$bucket_id\",\"database\":\"bench\",\"retention_policy\":\"autogen\",\"default\":true}"
"$driver" load --url "$url" --token benchtoken --v1-db bench --series "$series" --points "$points" >&2
settle_tsm "$work/ironflux/engine/data"
while IFS= read -r line; do rows+=("ironflux	$line"); done < <(
  "$driver" time-influxql --url "$url" --token benchtoken --db bench "${queries[@]}")
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

# --- InfluxDB 1.6.7
d="$work/influxdb"
start_influxd "$d" 18092 2s 5s
pid=$INFLUXD_PID
url="http://127.0.0.1:18092"
curl -fs -o /dev/null -X POST "$url/query" --data-urlencode 'q=CREATE DATABASE bench'
"$driver" load --url "$url" --token none --v1-db bench --series "$series" --points "$points" >&2
settle_tsm "$d/data"
while IFS= read -r line; do rows+=("influxdb 1.6.7	$line"); done < <(
  "$driver" time-influxql --url "$url" --db bench "${queries[@]}")
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

echo "| query | server | median ms | min ms | max ms | first run ms | rows | answer bytes | answer hash |"
echo "|---|---|---:|---:|---:|---:|---:|---:|---|"
for r in "${rows[@]}"; do
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", $2, $1, $3, $4, $5, $6, $7, $8, $9 }' <<<"$r"
done | sort -t'|' -k2,2 -s
