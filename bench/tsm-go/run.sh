#!/usr/bin/env bash
# Runs the TSM codec benchmarks of ironflux (criterion, crates/tsm/benches/codecs.rs) and of
# InfluxDB's Go codecs (this directory, built offline in GOPATH mode against Debian's
# golang-github-influxdb-influxdb-dev) on the same data, and prints a side-by-side table.
# Both sides report their least disturbed measurement (criterion: fastest sample; Go: best of
# three runs, and the Go harness runs before and after criterion), which makes the comparison
# usable on a busy machine.
# Usage: bench/tsm-go/run.sh [criterion args]   (default: short measurement times)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
if [ ! -d /usr/share/gocode/src/github.com/influxdata/influxdb ] || ! command -v go >/dev/null; then
  echo "needs golang-go and golang-github-influxdb-influxdb-dev (see ../shared/oracles/build.sh)" >&2
  exit 1
fi
gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/tsm-go"
cp "$here/main.go" "$gopath/src/tsm-go/main.go"
(cd "$gopath/src/tsm-go" && GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS= go build -o "$gopath/tsm-go" .)
"$gopath/tsm-go" > "$gopath/go.jsonl"
args=("$@")
[ ${#args[@]} -eq 0 ] && args=(--warm-up-time 1 --measurement-time 3)
(cd "$root" && cargo bench -p tsm --bench codecs -- "${args[@]}" >"$gopath/criterion.log" 2>&1) \
  || { cat "$gopath/criterion.log" >&2; exit 1; }
"$gopath/tsm-go" >> "$gopath/go.jsonl"
python3 - "$target/criterion" "$gopath/go.jsonl" <<'PY'
import json, os, sys
crit, gofile = sys.argv[1], sys.argv[2]
go = {}
for line in open(gofile):
    r = json.loads(line)
    k = (r["op"], r["codec"])
    v = r["ns"] / r["values"]
    go[k] = min(go.get(k, v), v)
print("| op | codec | ironflux ns/value | InfluxDB Go ns/value | ironflux Mvalues/s | Go Mvalues/s | speed-up |")
print("|---|---|---:|---:|---:|---:|---:|")
for op in ("encode", "decode", "block_encode", "block_decode"):
    for codec in ("timestamp", "float", "integer", "unsigned", "boolean", "string"):
        if (op, codec) not in go:
            continue
        s = json.load(open(os.path.join(crit, op, codec, "new", "sample.json")))
        per_iter = min(t / i for t, i in zip(s["times"], s["iters"]))
        rs = per_iter / 1000.0
        g = go[(op, codec)]
        print(f"| {op} | {codec} | {rs:.2f} | {g:.2f} | {1e3/rs:.0f} | {1e3/g:.0f} | {g/rs:.1f}x |")
PY
