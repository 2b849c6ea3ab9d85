#!/usr/bin/env bash
# One large write: a single /api/v2/write body of LINES lines (4 fields, 10k series, about 96
# bytes a line) against a fresh release ironflux on 127.0.0.1; prints the status, the seconds it
# took and the server's peak RSS.
#
# Usage: bench/ingest/large-body.sh [LINES]     (default 1,000,000 lines, about 96 MB)
set -euo pipefail
lines=${1:-1000000}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d /tmp/ironflux-large-body.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

(cd "$root" && cargo build --release --quiet --bin ironflux)
ironflux="${CARGO_TARGET_DIR:-$root/target}/release/ironflux"

python3 - "$lines" "$work/body.lp" <<'PY'
import random, sys
n, path = int(sys.argv[1]), sys.argv[2]
random.seed(1)
with open(path, "w") as f:
    for i in range(n):
        s = i % 10000
        f.write(f"cpu,host=h{s:05},region=r{s % 10} usage_user={random.random():.6f},"
                f"usage_system={random.random():.6f},idle={random.randint(0, 100)}i,ok=true "
                f"{1700000000 + i // 10000}\n")
PY

port=18097
"$ironflux" serve --http-bind-address "127.0.0.1:$port" --data-dir "$work/data" --log-level error &
pid=$!
for _ in $(seq 1 100); do curl -fs -o /dev/null "http://127.0.0.1:$port/health" && break; sleep 0.1; done
curl -fs -o /dev/null -X POST "http://127.0.0.1:$port/api/v2/setup" -H 'Content-Type: application/json' \
  -d '{"username":"bench","password":"benchbench","org":"bench","bucket":"bench","token":"benchtoken"}'
out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' -X POST \
  "http://127.0.0.1:$port/api/v2/write?org=bench&bucket=bench&precision=s" \
  -H 'Authorization: Token benchtoken' --data-binary @"$work/body.lp")
echo "body bytes: $(stat -c %s "$work/body.lp")"
echo "status and seconds: $out"
echo "peak RSS MiB: $(awk '/VmHWM/ {printf "%.0f", $2/1024}' "/proc/$pid/status")"
