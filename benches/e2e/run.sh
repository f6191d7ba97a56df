#!/usr/bin/env bash
# End-to-end backtest throughput (files → alerts) on one and two threads, with gzip
# decompression alone as the peer measured in the same run.
#
#   bash benches/e2e/run.sh [ENIS] [DAYS]      (defaults: 200 ENIs, 2 days: ~3 M records)
#
# Generates a synthetic VPC (v2, gzip, S3 layout) into target/e2e-bench/, trains on the first
# day, then times `flowvigil backtest` over the remaining days. Prints records/s (wall) and per
# CPU-second, and the ratios.
set -euo pipefail
cd "$(dirname "$0")/../.."
enis=${1:-200}
days=${2:-2}
work=target/e2e-bench
bin=target/release/flowvigil
cargo build --release --quiet
rm -rf "$work" && mkdir -p "$work"
"$bin" gen --out "$work/data" --seed 3 --enis "$enis" --days "$days" --clean-days 1 --format v2 >/dev/null
dirs=$(find "$work/data" -mindepth 7 -maxdepth 7 -type d | sort)
first=$(echo "$dirs" | head -n 1)
rest=$(echo "$dirs" | tail -n +2)
"$bin" train "$first" --out "$work/model.fvm" 2>/dev/null
records=$(find $rest -name '*.gz' -print0 | sort -z | xargs -0 cat | gzip -dc | grep -vc '^version ')
echo "records in the backtest input: $records"

measure() { # label, command...
    local label=$1; shift
    /usr/bin/time -f "%e %U %S" -o "$work/time" "$@" >/dev/null 2>"$work/err" || { cat "$work/err"; exit 1; }
    read -r wall user sys < "$work/time"
    cpu=$(echo "$user + $sys" | bc -l)
    printf '%-28s wall %6.2f s  cpu %6.2f s  %6.2f M rec/s wall  %6.2f M rec/CPU-s\n' \
        "$label" "$wall" "$cpu" "$(echo "$records / $wall / 1000000" | bc -l)" \
        "$(echo "$records / $cpu / 1000000" | bc -l)"
    echo "$wall $cpu" > "$work/$label.t"
}

find $rest -name '*.gz' | sort > "$work/files.txt"
measure gzip-dc sh -c "xargs cat < $work/files.txt | gzip -dc"
measure backtest-1-thread "$bin" backtest --model "$work/model.fvm" --threads 1 $rest --out /dev/null
measure backtest-2-threads "$bin" backtest --model "$work/model.fvm" --threads 2 $rest --out /dev/null
read -r gz_wall _ < "$work/gzip-dc.t"
read -r one_wall _ < "$work/backtest-1-thread.t"
read -r two_wall _ < "$work/backtest-2-threads.t"
printf 'backtest (1 thread) vs gzip -dc alone, wall: %.2f\n' "$(echo "$gz_wall / $one_wall" | bc -l)"
printf '2 threads vs 1, wall: %.2fx\n' "$(echo "$one_wall / $two_wall" | bc -l)"
