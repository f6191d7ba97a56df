#!/bin/sh
# Reproduces the evaluation table in docs/readme/evaluation-results.md: flowvigil and the
# reference isolation forest on the same windows of
#   - the synthetic VPC (`flowvigil demo`, attack scale 1 and 0.3),
#   - DARPA 1998 (MIDAS edge stream): train on weeks 1-2, evaluate weeks 3-7 (and: week 1 / 2-7),
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

# Trains on the day files of $2 (a converted data set) before day $3 (YYYY-MM-DD), evaluates
# the rest as data set $1 (file stem) named $4.
split_eval() {
    TRAIN=$(ls "$2"/logs/*.log.gz | awk -v d="$2/logs/$3" '$0 < d')
    EVAL=$(ls "$2"/logs/*.log.gz | awk -v d="$2/logs/$3" '$0 >= d')
    # shellcheck disable=SC2086 # word splitting of the file lists is intended
    "$F" train $TRAIN --out "$OUT/$1.fvm" 2> "$OUT/$1-train.log"
    # shellcheck disable=SC2086
    "$F" eval --model "$OUT/$1.fvm" --labels "$2/labels.csv" $EVAL --name "$4" \
        --report "$OUT/$1.html" --json "$OUT/$1.json" --markdown "$OUT/$1.md" > "$OUT/$1.log"
}

if [ -f "$SHARED/darpa98/darpa_original.zip" ]; then
    echo "== DARPA 1998"
    D="$OUT/data/darpa"
    convert darpa "$SHARED/darpa98/darpa_original.zip" --out "$D" > "$OUT/darpa-convert.log" 2>&1
    # Weeks 1-2 (06-01 .. 06-13) train, weeks 3-7 are evaluated; then week 1 only.
    split_eval darpa "$D" 1998-06-14 "DARPA 1998 (train weeks 1-2, eval 3-7)"
    split_eval darpa-w1 "$D" 1998-06-07 "DARPA 1998 (train week 1, eval 2-7)"
else
    echo "== DARPA 1998: $SHARED/darpa98/darpa_original.zip not found, skipped"
fi

if [ -f "$SHARED/iot23-34-1/conn.log.labeled" ]; then
    echo "== IoT-23 34-1"
    D="$OUT/data/iot23"
    convert zeek "$SHARED/iot23-34-1/conn.log.labeled" --out "$D" > "$OUT/iot23-convert.log" 2>&1
    # 2018-12-21 (14:50 .. 24:00) trains, 2018-12-22 (00:00 .. 14:50) is evaluated.
    split_eval iot23 "$D" 2018-12-22 "IoT-23 34-1 (train 12-21, eval 12-22)"
else
    echo "== IoT-23: $SHARED/iot23-34-1/conn.log.labeled not found, skipped"
fi

# One table: the first file's header, every file's rows.
first=1
for f in "$OUT/synthetic/summary.md" "$OUT/synthetic-0.3/summary.md" "$OUT/darpa.md" \
    "$OUT/darpa-w1.md" "$OUT/iot23.md"; do
    [ -f "$f" ] || continue
    if [ $first -eq 1 ]; then cat "$f"; first=0; else tail -n +3 "$f"; fi
done > "$OUT/results.md"
echo "wrote $OUT/results.md"
cat "$OUT/results.md"
