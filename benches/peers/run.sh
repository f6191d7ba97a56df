#!/usr/bin/env sh
# Peer benchmark: flowvigil `features` vs DuckDB and Polars on one generated v2 file.
#
#   benches/peers/run.sh [RECORDS] [ENIS] [HOURS] [REPEAT]     (defaults: 5000000 500 12 3)
#
# Works on a fresh machine with Rust, Python 3 (with venv) and gzip: it creates a virtualenv in
# target/peers-bench/venv, installs duckdb and polars from PyPI into it, builds flowvigil in
# release mode, generates the data (deterministic, seed 42) unless it already exists, and runs
# benches/peers/peers.py. Data and outputs stay under target/peers-bench/.
set -eu

RECORDS="${1:-5000000}"
ENIS="${2:-500}"
HOURS="${3:-12}"
REPEAT="${4:-3}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
OUT="$ROOT/target/peers-bench"
mkdir -p "$OUT"

if [ ! -x "$OUT/venv/bin/python" ]; then
    python3 -m venv "$OUT/venv"
fi
"$OUT/venv/bin/python" -c "import duckdb, polars" 2>/dev/null || "$OUT/venv/bin/pip" install --quiet duckdb polars

(cd "$ROOT" && cargo build --release --quiet)

LOG="$OUT/flows-$RECORDS-$ENIS-$HOURS.log"
if [ ! -s "$LOG" ]; then
    echo "generating $LOG ..."
    python3 "$ROOT/benches/peers/gen.py" "$LOG.tmp" "$RECORDS" "$ENIS" "$HOURS" 42
    mv "$LOG.tmp" "$LOG"
fi
if [ ! -s "$LOG.gz" ]; then
    gzip -6 -c "$LOG" > "$LOG.gz.tmp"
    mv "$LOG.gz.tmp" "$LOG.gz"
fi

"$OUT/venv/bin/python" "$ROOT/benches/peers/peers.py" \
    "$ROOT/target/release/flowvigil" "$LOG" "$LOG.gz" "$RECORDS" "$OUT" "$REPEAT"
