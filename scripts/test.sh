#!/usr/bin/env bash
# The project's test command: installs what the tests need (InfluxDB's own Go readers as oracles,
# a Python venv with the `influxdb-client`, `pandas` and 1.x `influxdb` packages), then checks
# formatting and lints and runs every test of the workspace. Safe to run again: installs are
# skipped when already present.
#
# Environment:
#   IRONFLUX_ORACLES  directory holding `tsmdump` and `boltdump` (default: target/oracles, built
#                     here)
#   IRONFLUX_PYTHON   a Python with the packages of crates/cli/tests/python/requirements.txt
#                     (default: target/venv/bin/python, made here)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=$(cd "$root/../shared" 2>/dev/null && pwd) || {
  echo "test.sh: ../shared (reference data and oracles) must sit beside the checkout" >&2
  exit 1
}

# Free disk decides whether the build fits; say it up front so a full disk is plain in the log.
echo "== disk free: $(df -h --output=avail "$root" | tail -1 | tr -d ' ')"

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# InfluxDB's own TSM reader and Go bbolt, built offline from Debian packages.
if [ -z "${IRONFLUX_ORACLES:-}" ]; then
  IRONFLUX_ORACLES="$root/target/oracles"
  if [ ! -x "$IRONFLUX_ORACLES/tsmdump" ] || [ ! -x "$IRONFLUX_ORACLES/boltdump" ]; then
    echo "== building oracles into $IRONFLUX_ORACLES"
    sudo_if_needed bash "$shared/oracles/build.sh" "$IRONFLUX_ORACLES"
  fi
fi
export IRONFLUX_ORACLES

# The Python client library that InfluxDB users run against the server.
if [ -z "${IRONFLUX_PYTHON:-}" ]; then
  venv="$root/target/venv"
  if [ ! -x "$venv/bin/pip" ]; then
    echo "== creating $venv"
    python3 -m venv "$venv"
  fi
  # Every run, so that a requirement added later reaches an existing venv too.
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$root/crates/cli/tests/python/requirements.txt"
  IRONFLUX_PYTHON="$venv/bin/python"
fi
export IRONFLUX_PYTHON

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
log="$root/target/test-output.log"
mkdir -p "$root/target"
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
echo "== target directory: $(du -sh "$root/target" | cut -f1)"
