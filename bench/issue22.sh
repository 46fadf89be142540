#!/usr/bin/env bash
# The measurements of docs/measurements-issue22.md: the four policies with their defaults,
# scikit-learn's MLP, the numeric columns that leave window 0's range, and
# `stateless.initial_fraction` over {0, 0.1, 0.3, 0.5}, on every table of
# bench/real_tables.py. One process at a time, one thread.
#
#   bench/issue22.sh BINARY TABLES RESULTS [SEEDS] [SMALL_SEEDS]
#
# BINARY: the relearn binary; TABLES: the folder `real_tables.py fetch` wrote; RESULTS: a
# folder for the raw figures (`*.txt`: the printed tables; `*.jsonl`: one line per run with
# its per-window scores and baselines). SEEDS (default 0) for every table, SMALL_SEEDS
# (default 0,1,2) for the small ones (penguins, segment, seattle_weather, computers,
# bikeshare). Skip scikit-learn with NO_SKLEARN=1.
set -euo pipefail
bin=$1 tables=$2 out=$3 seeds=${4:-0} small_seeds=${5:-0,1,2}
here=$(cd "$(dirname "$0")" && pwd)
rt="nice -n 10 env OMP_NUM_THREADS=1 python3 $here/real_tables.py"
all=flights,mpls_stops,seattle_pets,penguins,segment,bikeshare,hotel_rates,computers,seattle_weather,elec2
large=flights,mpls_stops,seattle_pets,hotel_rates,elec2
small=penguins,segment,seattle_weather,computers,bikeshare
mkdir -p "$out"

$rt ranges "$tables" > "$out/ranges.txt"
if [ -z "${NO_SKLEARN:-}" ]; then
    $rt sklearn "$tables" --tables "$all" --seeds "$small_seeds" --epochs 3 --jobs 1 \
        --jsonl "$out/sklearn.jsonl" > "$out/sklearn.txt"
fi
for mode in stateful stateless replay drift; do
    $rt ours "$tables" --binary "$bin" --mode "$mode" --tables "$large" --seeds "$seeds" \
        --jsonl "$out/policies.jsonl" --work "$out/work" >> "$out/policies.txt"
    $rt ours "$tables" --binary "$bin" --mode "$mode" --tables "$small" --seeds "$small_seeds" \
        --jsonl "$out/policies.jsonl" --work "$out/work" >> "$out/policies.txt"
done
for f in 0 0.1 0.5; do
    $rt ours "$tables" --binary "$bin" --mode stateless --set "stateless.initial_fraction=$f" \
        --tables "$large" --seeds "$seeds" --jsonl "$out/fraction.jsonl" --work "$out/work" >> "$out/fraction.txt"
    $rt ours "$tables" --binary "$bin" --mode stateless --set "stateless.initial_fraction=$f" \
        --tables "$small" --seeds "$small_seeds" --jsonl "$out/fraction.jsonl" --work "$out/work" >> "$out/fraction.txt"
done
