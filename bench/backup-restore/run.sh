#!/usr/bin/env bash
# Backup/restore benchmark: one shard of BYTES (default 1 GiB) of TSM files, restored through
# `POST /api/v2/restore/shards/{id}` and backed up through `GET /api/v2/backup/shards/{id}` of a
# release `ironflux` on 127.0.0.1, gzipped and plain, each against the machine's own limit for
# the same bytes measured in the same run:
#   restore, gzip  vs  tar -x + gzip -d + sync   (of the very tar.gz that is uploaded)
#   restore, plain vs  tar -x + sync
#   backup, gzip   vs  tar -c + gzip -1 + sync (the server's level for shard tars when the
#                      client names none, as `ironflux backup` and `influx backup`), and vs the first
#   backup, plain  vs  tar -c + sync
#   `ironflux backup` / `ironflux restore` of the bucket (metadata, the shard gzipped, SHA-256 of
#   every file) vs  tar -x + gzip -d + sync
# MB/s count the shard's TSM bytes (10^6 bytes). RSS growth is the server's VmHWM after the
# operation minus its VmRSS before (the peak is reset first through /proc/PID/clear_refs).
# The shard's files come from a generator (./src/main.rs: random-walk floats and random
# integers that barely compress, as real TSM data).
#
# Usage: bench/backup-restore/run.sh [BYTES]      Only 127.0.0.1 is used; needs about 7x BYTES
# of free disk under TMPDIR.
set -euo pipefail
bytes=${1:-1073741824}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/ironflux-backup-bench.XXXXXX")
pid=
cleanup() { [[ -n "$pid" ]] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

echo "building ironflux and the shard generator (release)..." >&2
(cd "$root" && cargo build --release --quiet --bin ironflux)
(cd "$here" && CARGO_TARGET_DIR="$here/target" cargo build --release --quiet)
ironflux="${CARGO_TARGET_DIR:-$root/target}/release/ironflux"
gen="$here/target/release/backup-restore-gen"

port=18187
url=http://127.0.0.1:$port
token=benchtoken
# 2026-01-01T00:00:00Z, the start of a 7-day shard group.
start_ns=1767225600000000000

now() { date +%s.%N; }
mbps() { awk -v b="$1" -v s="$2" 'BEGIN{printf "%.1f", b/s/1e6}'; }
rss_kib() { awk -v k="$2" '$1==k":" {print $2}' "/proc/$1/status"; }
# shellcheck source=../lib.sh
. "$here/../lib.sh"

# --- the shard's files and the two archives, as InfluxDB names them
src="$work/src"; shard_rel="00000000000000aa/autogen/1"
echo "generating $bytes bytes of TSM files..." >&2
tsm_bytes=$("$gen" "$src/$shard_rel" "$bytes" "$start_ns")
tar --format=ustar -C "$src" -cf "$work/shard.tar" "$shard_rel"
gzip -6 -c "$work/shard.tar" > "$work/shard.tar.gz"
echo "shard: $tsm_bytes bytes of TSM, tar.gz $(stat -c %s "$work/shard.tar.gz") bytes" >&2

# limit NAME COMMAND...: seconds of COMMAND followed by sync, on a freshly emptied directory.
limit() {
  local out="$work/limit"; rm -rf "$out"; mkdir -p "$out"; sync
  local t0; t0=$(now); (cd "$out" && eval "$1"); sync; local t1; t1=$(now)
  rm -rf "$out"
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}'
}

# --- server
d="$work/server"; mkdir -p "$d"
"$ironflux" serve --http-bind-address "127.0.0.1:$port" --bolt-path "$d/influxd.bolt" \
  --sqlite-path "$d/influxd.sqlite" --engine-path "$d/engine" --log-level error &
pid=$!; wait_http "$url/health"
curl -fsS -o /dev/null -X POST "$url/api/v2/setup" -H 'Content-Type: application/json' \
  -d "{\"username\":\"bench\",\"password\":\"benchbench\",\"org\":\"bench\",\"bucket\":\"bench\",\"token\":\"$token\"}"
org_id=$(curl -fsS -H "Authorization: Token $token" "$url/api/v2/orgs?org=bench" |
  sed -E 's/.*"orgs":\[\{[^}]*"id":"([0-9a-f]{16})".*/\1/')

# new_shard NAME: a bucket whose one shard group covers the data; prints the new shard ID.
new_shard() {
  local end_ns=$((start_ns + 604800000000000))
  curl -fsS -X POST "$url/api/v2/restore/bucketMetadata" -H "Authorization: Token $token" \
    -H 'Content-Type: application/json' -d @- <<JSON | sed -E 's/.*"newId":([0-9]+).*/\1/'
{"organizationID":"$org_id","organizationName":"bench","bucketID":"00000000000000aa",
 "bucketName":"$1","defaultRetentionPolicy":"autogen",
 "retentionPolicies":[{"name":"autogen","replicaN":1,"duration":0,
  "shardGroupDuration":604800000000000,
  "shardGroups":[{"id":1,"startTime":"2026-01-01T00:00:00Z","endTime":"2026-01-08T00:00:00Z",
   "shards":[{"id":1,"shardOwners":[]}]}],"subscriptions":[]}]}
JSON
}

# server_op NAME CURL-ARGS...: runs curl against the server, then sync; prints "seconds rss_mib".
server_op() {
  local before; before=$(rss_kib "$pid" VmRSS)
  echo 5 > "/proc/$pid/clear_refs"
  sync
  local t0; t0=$(now)
  local code; code=$(curl -sS -o "$work/op.out" -w '%{http_code}' -H "Authorization: Token $token" "$@")
  sync
  local t1; t1=$(now)
  if [[ "$code" != 2* ]]; then echo "request failed: $code $(head -c 500 "$work/op.out")" >&2; exit 1; fi
  local hwm; hwm=$(rss_kib "$pid" VmHWM)
  awk -v a="$t0" -v b="$t1" -v h="$hwm" -v r="$before" 'BEGIN{g=(h-r)/1024; if (g<0) g=0; printf "%.3f %.1f\n", b-a, g}'
}

rows=()
row() { # name seconds rss limit-name limit-seconds
  rows+=("$1|$(mbps "$tsm_bytes" "$2")|$4|$(mbps "$tsm_bytes" "$5")|$(awk -v a="$5" -v b="$2" 'BEGIN{printf "%.2f", a/b}')|$3|$2")
}

echo "restore, gzip..." >&2
lim=$(limit "tar -xzf '$work/shard.tar.gz'")
id=$(new_shard bench-gz)
read -r secs rss < <(server_op -X POST -T "$work/shard.tar.gz" -H 'Content-Encoding: gzip' \
  -H 'Content-Type: application/octet-stream' "$url/api/v2/restore/shards/$id")
row "restore, gzip body" "$secs" "$rss" "tar -x + gzip -d + sync" "$lim"

echo "restore, plain..." >&2
lim=$(limit "tar -xf '$work/shard.tar'")
id2=$(new_shard bench-plain)
read -r secs rss < <(server_op -X POST -T "$work/shard.tar" \
  -H 'Content-Type: application/octet-stream' "$url/api/v2/restore/shards/$id2")
row "restore, plain tar" "$secs" "$rss" "tar -x + sync" "$lim"
rm -f "$work/shard.tar"

echo "backup, gzip..." >&2
lim_c=$(limit "tar -C '$src' -cf - '$shard_rel' | gzip -1 > out.tar.gz")
read -r secs rss < <(server_op -H 'Accept-Encoding: gzip' "$url/api/v2/backup/shards/$id")
row "backup, gzip (level 1)" "$secs" "$rss" "tar -c + gzip -1 + sync" "$lim_c"
lim_x=$(limit "tar -xzf '$work/shard.tar.gz'")
row "backup, gzip (level 1)" "$secs" "$rss" "tar -x + gzip -d + sync" "$lim_x"
got=$(tar -tvzf "$work/op.out" | awk '{s+=$3} END{print s}')
[[ "$got" == "$tsm_bytes" ]] || { echo "backup holds $got bytes of files, expected $tsm_bytes" >&2; exit 1; }

echo "backup, plain..." >&2
lim=$(limit "tar -C '$src' -cf out.tar '$shard_rel'")
read -r secs rss < <(server_op "$url/api/v2/backup/shards/$id")
row "backup, plain tar" "$secs" "$rss" "tar -c + sync" "$lim"
got=$(tar -tvf "$work/op.out" | awk '{s+=$3} END{print s}')
[[ "$got" == "$tsm_bytes" ]] || { echo "backup holds $got bytes of files, expected $tsm_bytes" >&2; exit 1; }

# The CLI end to end: `ironflux backup` of the bucket (metadata and the shard, gzipped, every
# file checksummed) and `ironflux restore` of it under a new name.
# cli_op ARGS...: like server_op, for an ironflux client command.
cli_op() {
  local before; before=$(rss_kib "$pid" VmRSS)
  echo 5 > "/proc/$pid/clear_refs"
  sync
  local t0; t0=$(now)
  "$ironflux" "$@" --host "$url" --token "$token" >"$work/cli.log" 2>&1 ||
    { echo "ironflux $* failed: $(tail -5 "$work/cli.log")" >&2; exit 1; }
  sync
  local t1; t1=$(now)
  local hwm; hwm=$(rss_kib "$pid" VmHWM)
  awk -v a="$t0" -v b="$t1" -v h="$hwm" -v r="$before" 'BEGIN{g=(h-r)/1024; if (g<0) g=0; printf "%.3f %.1f\n", b-a, g}'
}
rm -f "$work/op.out"
echo "ironflux backup..." >&2
read -r secs rss < <(cli_op backup "$work/cli-backup" --org bench --bucket bench-gz)
row "ironflux backup (bucket)" "$secs" "$rss" "tar -x + gzip -d + sync" "$lim_x"
echo "ironflux restore..." >&2
read -r secs rss < <(cli_op restore "$work/cli-backup" --org bench --bucket bench-gz --new-bucket cli-restored)
row "ironflux restore (bucket)" "$secs" "$rss" "tar -x + gzip -d + sync" "$lim_x"

printf '\nshard: %s bytes of TSM (%.2f GiB), %s files; load average %s\n' "$tsm_bytes" \
  "$(awk -v b="$tsm_bytes" 'BEGIN{print b/1073741824}')" "$(ls "$src/$shard_rel" | wc -l)" \
  "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n| operation | ironflux MB/s | machine limit | limit MB/s | ratio | server RSS growth MiB | seconds |\n|---|---:|---|---:|---:|---:|---:|\n'
for r in "${rows[@]}"; do
  IFS='|' read -r a b c e f g h <<<"$r"
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$a" "$b" "$c" "$e" "$f" "$g" "$h"
done
