# Shell helpers shared by the benchmark scripts (sourced, not run).

# Waits until URL answers 2xx (20 s at most).
wait_http() {
  for _ in $(seq 1 200); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "no answer from $1" >&2
  return 1
}

# Waits until the TSM files under DIR stop changing for 10 s (snapshots and full compactions
# done; 4 minutes at most), then reports their number and size on stderr.
settle_tsm() {
  local prev= same=0 now
  for _ in $(seq 1 120); do
    sleep 2
    now=$(find "$1" -name '*.tsm' -printf '%f %s\n' | sort | md5sum)
    if [ "$now" = "$prev" ]; then same=$((same + 1)); else same=0; fi
    prev=$now
    [ "$same" -ge 5 ] && break
  done
  echo "TSM files: $(find "$1" -name '*.tsm' | wc -l), $(du -sh "$1" | cut -f1)" >&2
}

# Installs Debian's packages named as arguments when their commands are missing, and stops the
# services the packages start.
need_debian() {
  local missing=()
  for pkg in "$@"; do
    local cmd=$pkg
    [ "$pkg" = influxdb ] && cmd=influxd
    command -v "$cmd" >/dev/null || missing+=("$pkg")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  for pkg in "${missing[@]}"; do
    systemctl stop "$pkg" 2>/dev/null || true
  done
  pkill -x influxd 2>/dev/null || true
  pkill -x victoria-metrics 2>/dev/null || true
}

# Starts InfluxDB 1.x (`influxd`) in DIR with its HTTP API on 127.0.0.1:PORT (its RPC on
# PORT+2), the WAL fsynced before every acknowledgement and the given cache-snapshot and
# full-compaction cold durations; sets INFLUXD_PID and waits for /ping.
start_influxd() {
  local dir=$1 port=$2 snapshot_cold=$3 compact_cold=$4
  mkdir -p "$dir"
  cat > "$dir/influxdb.conf" <<CONF
reporting-disabled = true
bind-address = "127.0.0.1:$((port + 2))"
[meta]
  dir = "$dir/meta"
[data]
  dir = "$dir/data"
  wal-dir = "$dir/wal"
  wal-fsync-delay = "0s"
  cache-snapshot-write-cold-duration = "$snapshot_cold"
  compact-full-write-cold-duration = "$compact_cold"
[http]
  bind-address = "127.0.0.1:$port"
  log-enabled = false
[monitor]
  store-enabled = false
CONF
  influxd -config "$dir/influxdb.conf" >"$dir/log" 2>&1 &
  INFLUXD_PID=$!
  wait_http "http://127.0.0.1:$port/ping"
}
