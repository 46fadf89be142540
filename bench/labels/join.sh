#!/usr/bin/env bash
# The label join at production scale: `relearn shadow-report` joining a million labels that
# arrived later to ten million logged predictions (the prediction log of `relearn serve`),
# to score the model that served them. Prints wall time and peak memory (GNU time).
#
#   bench/labels/join.sh [PREDICTIONS] [LABELS]
#
# Writes under $BENCH_DIR (default /tmp/relearn-label-join): log/ (PREDICTIONS rows in
# requests of 1,000 rows, in the server's record format, 10 segment files) and labels.csv
# (LABELS rows: the labels of a random sample of the logged ids, plus 1 % for ids never
# logged). Needs python3 (standard library only) and a built relearn (cargo build).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bench=${BENCH_DIR:-/tmp/relearn-label-join}
predictions=${1:-10000000}
labels=${2:-1000000}
mkdir -p "$bench"
python3 - "$bench" "$predictions" "$labels" <<'PY'
import json, os, random, sys
out, n, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(0)
log = os.path.join(out, "log")
os.makedirs(log, exist_ok=True)
model = "ab" * 32
per_request, files = 1000, 10
requests = n // per_request
truth = {}
for f in range(files):
    with open(os.path.join(log, f"20261203T000000-1-{f:04d}.jsonl"), "w") as w:
        for r in range(f * requests // files, (f + 1) * requests // files):
            ids = [f"ev-{r * per_request + i}" for i in range(per_request)]
            preds = [rng.choice("01") for _ in ids]
            w.write(json.dumps({"request_id": f"req-{r}", "time": "2026-12-03T00:00:00.000Z",
                                "model": model, "ids": ids, "predictions": preds},
                               separators=(",", ":")) + "\n")
with open(os.path.join(out, "labels.csv"), "w") as w:
    w.write("event_id,y\n")
    for i in rng.sample(range(n), k - k // 100):
        w.write(f"ev-{i},{rng.choice('01')}\n")
    for i in range(k // 100):
        w.write(f"never-{i},1\n")
PY
du -sh "$bench/log" "$bench/labels.csv"
/usr/bin/time -f "wall %e s, peak memory %M KiB" "$root/target/debug/relearn" shadow-report \
  --run join-bench --log-dir "$bench/log" --labels "$bench/labels.csv" \
  --id-column event_id --label-column y
