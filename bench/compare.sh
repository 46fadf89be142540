#!/usr/bin/env bash
# relearn against PyTorch and scikit-learn, measured in one run on this machine.
#
#   bench/compare.sh [--quick] [--threads N] [--rounds R] [--no-grid] [--no-torch] [--no-sklearn] [--no-memory]
#                    [--no-updates] [--no-store] [--all-paths]
#
# 1. Training-step grid (hidden 32..512 x batch 32..512, 32 inputs, 2 classes, Adam, ReLU):
#    relearn's `train_step` bench (Flex, fused trainer) and ../shared/bench/torch_mlp.py,
#    back to back per shape, same thread count, R rounds per shape alternating the two
#    sides (default 3, 1 with --quick); the medians are compared. Needs `python3 -c "import torch"`.
# 2. End-to-end Elec2 stream (window 1000, stateful, 5 epochs per window, hidden (64, 64),
#    lr 1e-3, batch 32): `relearn run` (whole process, CSV parsing and commits included)
#    against bench/sklearn_elec.py (MLPClassifier.partial_fit; its loop only).
#    Needs ../shared/data/elec.csv and scikit-learn.
# 3. Stateful vs stateless update per window (`updates` bench), store commit/load and `log`
#    over 10,000 checkpoints (`store` bench), and peak memory of a stateful run on 1e5 vs
#    1e6 generated samples (/usr/bin/time -v).
#
# Prints ratios; the targets are those of issue 6 (see docs/performance.md). Builds the
# release binaries once (`cargo bench --no-run`); nothing here is a test.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SHARED=${RELEARN_SHARED:-$ROOT/../shared}
NPROC=$(getconf _NPROCESSORS_ONLN)
THREADS=$NPROC
QUICK=0; ROUNDS=; GRID=1; TORCH=1; SKLEARN=1; MEMORY=1; UPDATES=1; STORE=1; PATHS=flex
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --threads) THREADS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --no-grid) GRID=0 ;;
    --no-torch) TORCH=0 ;;
    --no-sklearn) SKLEARN=0 ;;
    --no-memory) MEMORY=0 ;;
    --no-updates) UPDATES=0 ;;
    --no-store) STORE=0 ;;
    --all-paths) PATHS=flex,flex-autodiff,ndarray ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
export RELEARN_THREADS=$THREADS OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
if [ $QUICK = 1 ]; then HIDDEN="32 64 256 512"; BATCH="32 256"; MIN_TIME=0.5; else HIDDEN="32 64 128 256 512"; BATCH="32 64 128 256 512"; MIN_TIME=1.0; fi
[ -n "$ROUNDS" ] || ROUNDS=$([ $QUICK = 1 ] && echo 1 || echo 3)
median() { python3 -c "import statistics, sys; print(statistics.median(float(x) for x in sys.argv[1:]))" "$@"; }

echo "== machine: $NPROC CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg), threads $THREADS"

echo "== building (release, once)"
BINS=$(cargo bench --no-run --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "bench" in m["target"]["kind"]:
        print(m["target"]["name"] + "=" + m["executable"])
')
bin() { echo "$BINS" | sed -n "s/^$1=//p"; }
STEP=$(bin train_step); UPD=$(bin updates); STO=$(bin store)
RELEARN=$ROOT/target/release/relearn
[ -x "$RELEARN" ] || cargo build --release --bin relearn -q
[ -n "$STEP" ] || { echo "could not build the benches (run: cargo bench --no-run)" >&2; exit 1; }

HAVE_TORCH=0
if [ $TORCH = 1 ] && python3 -c "import torch" 2>/dev/null && [ -f "$SHARED/bench/torch_mlp.py" ]; then HAVE_TORCH=1; fi
[ $TORCH = 1 ] && [ $HAVE_TORCH = 0 ] && echo "(PyTorch or $SHARED/bench/torch_mlp.py not found: relearn side only)"

if [ $GRID = 1 ]; then
echo
echo "== 1. training step: samples/s (32 inputs, 2 hidden layers, 2 classes, Adam), $THREADS threads, median of $ROUNDS round(s)"
printf "%-7s %-6s %12s %12s %8s %8s  %s\n" hidden batch relearn torch ratio target ok
for h in $HIDDEN; do
  for b in $BATCH; do
    target=$([ "$h" -le 64 ] && echo 2.5 || echo 1.0)
    steps=$(python3 -c "p=32*$h+$h+$h*$h+$h+$h*2+2; print(max(50, min(3000, int(3e9/(6*p*$b)))))")
    ours_all=(); theirs_all=()
    for _ in $(seq "$ROUNDS"); do
      line=$("$STEP" --hidden "$h" --batch "$b" --paths flex --min-time "$MIN_TIME" | grep '^step path=flex ')
      ours_all+=("$(echo "$line" | sed -n 's/.*samples_per_s=\([0-9.]*\).*/\1/p')")
      if [ $HAVE_TORCH = 1 ]; then
        theirs_all+=("$(python3 "$SHARED/bench/torch_mlp.py" --inputs 32 --hidden "$h" "$h" --classes 2 --batch "$b" --steps "$steps" --threads "$THREADS" | sed -n 's/.*samples\/s \([0-9.]*\).*/\1/p')")
      fi
    done
    ours=$(median "${ours_all[@]}" | cut -d. -f1)
    theirs=-; ratio=-; ok=-
    if [ $HAVE_TORCH = 1 ]; then
      theirs=$(median "${theirs_all[@]}" | cut -d. -f1)
      ratio=$(python3 -c "print(f'{$ours/$theirs:.2f}')")
      ok=$(python3 -c "print('yes' if $ours/$theirs >= $target else 'NO')")
    fi
    printf "%-7s %-6s %12s %12s %8s %8s  %s\n" "$h" "$b" "$ours" "$theirs" "$ratio" ">=$target" "$ok"
    [ "$ROUNDS" -gt 1 ] && echo "        rounds: relearn ${ours_all[*]}; torch ${theirs_all[*]:--}"
    if [ "$PATHS" != flex ]; then "$STEP" --hidden "$h" --batch "$b" --paths flex-autodiff,ndarray --min-time "$MIN_TIME" | sed 's/^/    /'; fi
  done
done
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

echo
echo "== 2. end-to-end Elec2, stateful, window 1000, 5 epochs/window, batch 32, hidden (64, 64)"
if [ -f "$SHARED/data/elec.csv" ]; then
  cat > "$TMP/elec.toml" <<TOML
[run]
name = "elec-bench"
mode = "stateful"
store = "store"
[data]
csv = "$SHARED/data/elec.csv"
target = "class"
task = "classification"
scaling = "none"
[window]
size = 1000
initial = 1
[model]
hidden = [64, 64]
[train]
epochs = 5
batch_size = 32
lr = 1e-3
[stateful]
epochs = 5
lr = 1e-3
carry_optimizer = true
TOML
  start=$(date +%s.%N)
  "$RELEARN" run --config "$TMP/elec.toml" --store "$TMP/elec-store" > "$TMP/elec.out" 2> "$TMP/elec.err"
  end=$(date +%s.%N)
  ours=$(python3 -c "print(f'{$end-$start:.3f}')")
  read -r acc windows train < <("$RELEARN" log --store "$TMP/elec-store" --json | python3 -c '
import json, sys
ms = json.load(sys.stdin)
scored = [m["metrics"]["prequential"]["accuracy"] for m in ms if m["metrics"].get("prequential")]
print("%.4f %d %.3f" % (sum(scored) / len(scored), len(scored), sum(m["train_seconds"] for m in ms)))')
  echo "relearn elec windows=$windows seconds=$ours (whole process; training alone ${train} s) accuracy=$acc"
  if [ $SKLEARN = 1 ] && python3 -c "import sklearn" 2>/dev/null; then
    sk=$(python3 bench/sklearn_elec.py --csv "$SHARED/data/elec.csv" --window 1000 --epochs 5)
    echo "$sk"
    sks=$(echo "$sk" | sed -n 's/.*seconds=\([0-9.]*\).*/\1/p')
    python3 -c "r=$sks/$ours; print(f'speed-up over scikit-learn: {r:.1f}x (target >= 5x): ' + ('yes' if r >= 5 else 'NO'))"
  elif [ $SKLEARN = 1 ]; then
    echo "(scikit-learn not installed: pip install scikit-learn)"
  fi
else
  echo "($SHARED/data/elec.csv not found: skipped)"
fi

if [ $UPDATES = 1 ]; then
  echo
  echo "== 3. stateful vs stateless update per window (default config, SEA stream)"
  "$UPD" --windows "$([ $QUICK = 1 ] && echo 8 || echo 20)"
fi

if [ $STORE = 1 ]; then
  echo
  echo "== 4. store: commit/load vs write+fsync; log and REF resolution over 10,000 checkpoints"
  "$STO"
  if [ -f target/bench-data/store-10k/bench-complete ]; then
    # Whole processes over the 10,000-checkpoint store: median of 5 after a warm-up.
    for cmd in "log" "log --json" "tree" "show run-3~5"; do
      # shellcheck disable=SC2086
      "$RELEARN" $cmd --store target/bench-data/store-10k > /dev/null
      times=()
      for _ in 1 2 3 4 5; do
        start=$(date +%s.%N)
        # shellcheck disable=SC2086
        "$RELEARN" $cmd --store target/bench-data/store-10k > /dev/null
        end=$(date +%s.%N)
        times+=("$(python3 -c "print(($end - $start) * 1e3)")")
      done
      echo "relearn $cmd (whole process, 10,000 checkpoints): $(median "${times[@]}" | cut -d. -f1) ms (all: $(printf '%.0f ' "${times[@]}"))"
    done
    echo "(target: log < 200 ms)"
  fi
fi

if [ $MEMORY = 1 ]; then
  echo
  echo "== 5. peak memory of a stateful run: 1e5 vs 1e6 generated samples (SEA, window 1000)"
  for n in 100000 1000000; do
    cat > "$TMP/mem-$n.toml" <<TOML
[run]
name = "mem"
mode = "stateful"
[data]
generator = "sea"
samples = $n
[window]
size = 1000
[stateful]
epochs = 1
TOML
    /usr/bin/time -v "$RELEARN" run --config "$TMP/mem-$n.toml" --store "$TMP/mem-store-$n" > /dev/null 2> "$TMP/mem-$n.err"
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/mem-$n.err")
    echo "samples=$n peak_rss_kb=$kb"
    eval "RSS_$n=$kb"
  done
  python3 -c "r=$RSS_1000000/$RSS_100000; print(f'peak RSS 1e6 / 1e5 = {r:.3f} (target within 10 %): ' + ('yes' if abs(r-1) <= 0.10 else 'NO'))"
fi
