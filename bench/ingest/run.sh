#!/usr/bin/env bash
# Ingest benchmark: the same line-protocol load (batches of 5,000 lines, 10k series, 4 fields,
# 2 connections, loopback) against ironflux, InfluxDB 1.6.7 (Debian `influxdb`, fsync on every
# write) and VictoriaMetrics (Debian `victoria-metrics`, which acknowledges before fsync), one after
# the other in one run. Prints a table: lines/s, values/s, bytes on disk per line after
# compaction, and peak RSS of each server.
#
# Usage: bench/ingest/run.sh [LINES]     (default 2,000,000 lines = 8,000,000 values)
# Needs root for apt-get the first time. Only 127.0.0.1 is used.
set -euo pipefail
lines=${1:-2000000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/ironflux-ingest.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]:-}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# shellcheck source=../lib.sh
. "$here/../lib.sh"
need_debian influxdb victoria-metrics

echo "building ironflux and the load generator (release)..." >&2
(cd "$root" && cargo build --release --quiet --bin ironflux)
(cd "$here" && CARGO_TARGET_DIR="$here/target" cargo build --release --quiet)
ironflux="${CARGO_TARGET_DIR:-$root/target}/release/ironflux"
load="$here/target/release/ingest-load"

peak_rss_mib() { awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$1/status"; }
bytes_of() { du -sb "$1" | cut -f1; }
rows=()

# --- ironflux
d="$work/ironflux"; mkdir -p "$d"
"$ironflux" serve --http-bind-address 127.0.0.1:18087 --bolt-path "$d/influxd.bolt" \
  --sqlite-path "$d/influxd.sqlite" --engine-path "$d/engine" --log-level error \
  --storage-cache-snapshot-write-cold-duration 5s --storage-compact-full-write-cold-duration 5s &
pid=$!; pids+=("$pid"); wait_http http://127.0.0.1:18087/health
curl -fs -o /dev/null -X POST http://127.0.0.1:18087/api/v2/setup -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"benchbench","org":"bench","bucket":"bench","token":"benchtoken"}'
out=$("$load" --url 'http://127.0.0.1:18087/api/v2/write?org=bench&bucket=bench&precision=s' \
  --auth 'Token benchtoken' --lines "$lines")
sleep 15   # cache snapshot and compaction of the now-cold shard
rows+=("ironflux|$out|$(bytes_of "$d/engine/data")|$(peak_rss_mib "$pid")")
kill "$pid"; wait "$pid" 2>/dev/null || true

# --- InfluxDB 1.6.7
d="$work/influxdb"
start_influxd "$d" 18086 5s 5s
pid=$INFLUXD_PID; pids+=("$pid")
curl -fs -o /dev/null -X POST 'http://127.0.0.1:18086/query' --data-urlencode 'q=CREATE DATABASE bench'
out=$("$load" --url 'http://127.0.0.1:18086/write?db=bench&precision=s' --lines "$lines")
sleep 15
rows+=("influxdb 1.6.7|$out|$(bytes_of "$d/data")|$(peak_rss_mib "$pid")")
kill "$pid"; wait "$pid" 2>/dev/null || true

# --- VictoriaMetrics
d="$work/vm"; mkdir -p "$d"
victoria-metrics -storageDataPath="$d/data" -retentionPeriod=100y -httpListenAddr=127.0.0.1:18428 \
  -loggerLevel=ERROR >"$d/log" 2>&1 &
pid=$!; pids+=("$pid"); wait_http http://127.0.0.1:18428/health
out=$("$load" --url 'http://127.0.0.1:18428/write?precision=s' --lines "$lines")
curl -fs -o /dev/null http://127.0.0.1:18428/internal/force_flush || true
sleep 15
rows+=("victoria-metrics|$out|$(bytes_of "$d/data")|$(peak_rss_mib "$pid")")
kill "$pid"; wait "$pid" 2>/dev/null || true

printf '\n| server | lines/s | values/s | bytes on disk per line | peak RSS MiB |\n|---|---:|---:|---:|---:|\n'
for r in "${rows[@]}"; do
  IFS='|' read -r name out bytes rss <<<"$r"
  lps=$(sed -E 's/.*lines_per_s=([0-9]+).*/\1/' <<<"$out")
  vps=$(sed -E 's/.*values_per_s=([0-9]+).*/\1/' <<<"$out")
  printf '| %s | %s | %s | %s | %s |\n' "$name" "$lps" "$vps" "$(awk -v b="$bytes" -v n="$lines" 'BEGIN{printf "%.2f", b/n}')" "$rss"
done
