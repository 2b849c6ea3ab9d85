#!/usr/bin/env bash
# Dashboard query benchmark: 10,086,400 points (10k series x 1,000 points at 10 s, plus one
# series at 1 s over a day) written over HTTP into a release `ironflux` on 127.0.0.1, left to
# snapshot and compact into TSM files, then three Flux queries as a dashboard sends them, timed
# over HTTP `/api/v2/query` (JSON body, full annotated CSV read back): 2 warm-up runs (the first,
# before any block summary is cached, is shown as the first run), then the median, min and max
# of 9 runs. Prints a markdown table.
#
# Usage: bench/query/run.sh [SERIES] [POINTS_PER_SERIES]   (defaults 10000 1000)
# Honours CARGO_TARGET_DIR for the ironflux build. Only 127.0.0.1 is used.
set -euo pipefail
series=${1:-10000}
points=${2:-1000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/ironflux-query.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "building ironflux and the benchmark driver (release)..." >&2
(cd "$root" && cargo build --release --quiet --bin ironflux)
(cd "$here" && CARGO_TARGET_DIR="$here/target" cargo build --release --quiet)
ironflux="${CARGO_TARGET_DIR:-$root/target}/release/ironflux"
driver="$here/target/release/query-bench"

port=18090
url="http://127.0.0.1:$port"
# shellcheck source=../lib.sh
. "$here/../lib.sh"
"$ironflux" serve --http-bind-address "127.0.0.1:$port" --data-dir "$work/data" --log-level error \
  --storage-cache-snapshot-write-cold-duration 2s --storage-compact-full-write-cold-duration 5s &
pid=$!
wait_http "$url/health"
curl -fs -o /dev/null -X POST "$url/api/v2/setup" -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"benchbench","org":"bench","bucket":"bench","token":"benchtoken"}'
"$driver" load --url "$url" --token benchtoken --series "$series" --points "$points" >&2

# Wait until the cache is snapshotted and the shards fully compacted (TSM files stop changing).
settle_tsm "$work/data/engine/data"

day='range(start: 2026-01-01T00:00:00Z, stop: 2026-01-02T00:00:00Z)'
q_last="from(bucket: \"bench\") |> $day |> filter(fn: (r) => r._measurement == \"dash\" and r._field == \"v\") |> last()"
q_mean="from(bucket: \"bench\") |> $day |> filter(fn: (r) => r._measurement == \"day\" and r._field == \"v\" and r.sensor == \"s1\") |> aggregateWindow(every: 1m, fn: mean, createEmpty: false)"
q_filtered="from(bucket: \"bench\") |> range(start: 2026-01-01T00:00:00Z, stop: 2026-01-01T03:00:00Z) |> filter(fn: (r) => r._measurement == \"dash\" and r._field == \"v\" and r.rack == \"r3\") |> aggregateWindow(every: 10m, fn: mean, createEmpty: false)"

echo "| query | median ms | min ms | max ms | first run ms | rows | answer bytes |"
echo "|---|---:|---:|---:|---:|---:|---:|"
"$driver" time --url "$url" --token benchtoken \
  "(a) last value per series, $series series=$q_last" \
  "(b) mean per minute over a day at 1 s, one series=$q_mean" \
  "(c) filtered aggregateWindow(10m, mean), $((series / 10)) series=$q_filtered" |
  awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }'
echo "peak RSS of ironflux: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$pid/status")" >&2
