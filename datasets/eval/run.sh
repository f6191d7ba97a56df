#!/bin/sh
# Reproduces the evaluation table in docs/readme/evaluation-results.md: flowvigil and the
# reference isolation forest on the same windows of
#   - the synthetic VPC (`flowvigil demo`, attack scale 1 and 0.3),
#   - DARPA 1998 (MIDAS edge stream): train on weeks 1-2, evaluate on weeks 3-7,
#   - IoT-23 scenario 34-1 (Zeek conn.log): train on 2018-12-21, evaluate on 2018-12-22.
# Usage: datasets/eval/run.sh [OUT]   (default OUT: out/eval; SHARED=... overrides the data path)
# Writes OUT/results.md (the table), and per data set a report (.html), metrics (.json) and a
# log of the printed metrics. Converted data goes to OUT/data; nothing is written elsewhere.
set -eu
cd "$(dirname "$0")/../.."
SHARED=${SHARED:-../shared/datasets}
OUT=${1:-out/eval}
F=target/release/flowvigil

cargo build --release --quiet
mkdir -p "$OUT/data"

# A converter exits 2 when it counted and skipped bad rows (DARPA has 10 rows dated 07/32/1998).
convert() {
    "$F" convert "$@" || [ $? -eq 2 ]
}

echo "== synthetic VPC (demo, seed 42)"
"$F" demo --out "$OUT/synthetic" --seed 42 > "$OUT/synthetic.log"
echo "== synthetic VPC, subtle attacks (demo, seed 42, attack scale 0.3)"
"$F" demo --out "$OUT/synthetic-0.3" --seed 42 --attack-scale 0.3 > "$OUT/synthetic-0.3.log"

if [ -f "$SHARED/darpa98/darpa_original.zip" ]; then
    echo "== DARPA 1998"
    D="$OUT/data/darpa"
    convert darpa "$SHARED/darpa98/darpa_original.zip" --out "$D" > "$OUT/darpa-convert.log"
    # Weeks 1-2 (1998-06-01 .. 06-13) train; weeks 3-7 (06-15 .. 08-01) are evaluated.
    TRAIN=$(ls "$D"/logs/1998-06-0[1-9].log.gz "$D"/logs/1998-06-1[0-3].log.gz)
    EVAL=$(ls "$D"/logs/*.log.gz | grep -v -e '1998-06-0[1-9]' -e '1998-06-1[0-3]')
    # shellcheck disable=SC2086 # word splitting of the file lists is intended
    "$F" train $TRAIN --out "$OUT/darpa.fvm"
    # shellcheck disable=SC2086
    "$F" eval --model "$OUT/darpa.fvm" --labels "$D/labels.csv" $EVAL \
        --name "DARPA 1998 (weeks 3-7)" --report "$OUT/darpa.html" --json "$OUT/darpa.json" \
        --markdown "$OUT/darpa.md" > "$OUT/darpa.log"
else
    echo "== DARPA 1998: $SHARED/darpa98/darpa_original.zip not found, skipped"
fi

if [ -f "$SHARED/iot23-34-1/conn.log.labeled" ]; then
    echo "== IoT-23 34-1"
    D="$OUT/data/iot23"
    convert zeek "$SHARED/iot23-34-1/conn.log.labeled" --out "$D" > "$OUT/iot23-convert.log"
    "$F" train "$D/logs/2018-12-21.log.gz" --out "$OUT/iot23.fvm"
    "$F" eval --model "$OUT/iot23.fvm" --labels "$D/labels.csv" "$D/logs/2018-12-22.log.gz" \
        --name "IoT-23 34-1 (2018-12-22)" --report "$OUT/iot23.html" --json "$OUT/iot23.json" \
        --markdown "$OUT/iot23.md" > "$OUT/iot23.log"
else
    echo "== IoT-23: $SHARED/iot23-34-1/conn.log.labeled not found, skipped"
fi

# One table: the first file's header, every file's rows.
first=1
for f in "$OUT/synthetic/summary.md" "$OUT/synthetic-0.3/summary.md" "$OUT/darpa.md" "$OUT/iot23.md"; do
    [ -f "$f" ] || continue
    if [ $first -eq 1 ]; then cat "$f"; first=0; else tail -n +3 "$f"; fi
done > "$OUT/results.md"
echo "wrote $OUT/results.md"
cat "$OUT/results.md"
