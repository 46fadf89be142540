#!/usr/bin/env bash
# Proves a refactor changed no behaviour: runs `relearn compare` under all four policies on
# the quickstart, SEA, Elec2 and Friedman configs into fresh stores and keeps everything a
# user or script sees (every manifest byte but the times and the checksum over them, every
# ref, `log`, `tree` and `show` of each run, compare.json without its timings, and
# compare's table without its time columns), so that two builds can be compared byte for
# byte.
#
#   bench/same-output.sh record DIR     # before the refactor: writes DIR
#   bench/same-output.sh check DIR      # after it: records again and diffs against DIR
#
# RELEARN=path/to/relearn picks the binary (default: target/release/relearn, built here).
# Elec2 is read from ../shared/data/elec.csv (RELEARN_SHARED overrides ../shared); without
# it the Elec2 case is skipped and says so. Takes a few minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: bench/same-output.sh record|check DIR}
dir=${2:?usage: bench/same-output.sh record|check DIR}
shared=${RELEARN_SHARED:-../shared}
if [ -z "${RELEARN:-}" ]; then
  cargo build --release --quiet
  RELEARN=target/release/relearn
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out="$work/out"
mkdir -p "$out"

configs=(quickstart sea friedman)
if [ -f "$shared/data/elec.csv" ]; then
  # The shipped config points at ../../shared/data/elec.csv; use the same file wherever
  # shared/ is.
  sed "s#^csv = .*#csv = \"$(realpath "$shared/data/elec.csv")\"#" configs/elec.toml >"$work/elec.toml"
  configs+=(elec)
else
  echo "no $shared/data/elec.csv: the Elec2 case is skipped" >&2
fi

# Drops what differs between two runs of the same build: wall times and what covers them.
normalise_json() {
  python3 -c '
import json, sys
# Times and what covers or depends on them: the checksum, cost ratios, and the
# recommendation (between policies within the noise of each other it picks the one that
# trained faster, so two runs of one build may differ); and the temporary paths.
DROP = {"created_at", "checksum", "peak_memory", "cost_ratio", "recommendation",
        "recommended", "store", "config", "at"}
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k not in DROP and "seconds" not in k}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
print(json.dumps(strip(json.load(sys.stdin)), indent=1, sort_keys=True))
'
}

for name in "${configs[@]}"; do
  cfg=configs/$name.toml
  [ "$name" = elec ] && cfg=$work/elec.toml
  store=$work/store-$name
  echo "$name ..." >&2
  "$RELEARN" compare --config "$cfg" --store "$store" --out "$work/compare-$name" \
    --policies stateless,stateful,replay,drift >"$work/table-$name.txt"
  # The lines that quote times (and the output folder) vary; every other line must not.
  grep -vE 'train seconds|peak memory|training time|^recommendation:|^wrote ' \
    "$work/table-$name.txt" >"$out/$name.table.txt"
  normalise_json <"$work/compare-$name/compare.json" >"$out/$name.compare.json"
  for m in "$store"/manifests/*.json; do
    normalise_json <"$m" >"$out/$name.manifest.$(basename "$m")"
  done
  for ref in "$store"/refs/runs/* "$store"/refs/tags/*; do
    [ -f "$ref" ] || continue
    cp "$ref" "$out/$name.ref.$(basename "$(dirname "$ref")").$(basename "$ref")"
  done
  for run in $(ls "$store/refs/runs"); do
    "$RELEARN" tree --run "$run" --store "$store" >"$out/$name.tree.$run.txt"
    "$RELEARN" log --run "$run" --store "$store" --json | normalise_json >"$out/$name.log.$run.json"
    "$RELEARN" show "$run" --store "$store" --json | normalise_json >"$out/$name.show.$run.json"
  done
done

# The quickstart as the README runs it (its final id is f82c801272b1).
"$RELEARN" run --config configs/quickstart.toml --store "$work/store-run" >"$work/run.txt"
sed -E 's/train +[0-9.]+s/train <time>/; s/in [0-9.]+ ?s/in <time>/g' "$work/run.txt" >"$out/quickstart.run.txt"
for m in "$work/store-run"/manifests/*.json; do
  normalise_json <"$m" >"$out/quickstart.run.manifest.$(basename "$m")"
done

case "$mode" in
  record)
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -r "$out"/. "$dir"/
    echo "recorded $(ls "$dir" | wc -l) files in $dir" >&2
    ;;
  check)
    if diff -r "$dir" "$out" >"$work/diff.txt"; then
      echo "same output: $(ls "$out" | wc -l) files identical to $dir" >&2
    else
      head -100 "$work/diff.txt"
      echo "DIFFERENT: see the diff above" >&2
      exit 1
    fi
    ;;
  *)
    echo "usage: bench/same-output.sh record|check DIR" >&2
    exit 2
    ;;
esac
