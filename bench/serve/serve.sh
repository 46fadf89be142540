#!/usr/bin/env bash
# Benchmark `relearn serve` against a FastAPI + PyTorch peer serving the same checkpoint.
#
#   RELEARN=/path/to/relearn bench/serve/serve.sh [OUT_DIR]
#
# Installs wrk (Debian) and a venv with fastapi, uvicorn, torch, numpy and safetensors
# (PyPI) under $BENCH_DIR/venv; trains configs/quickstart.toml into $BENCH_DIR/store and
# exports it; starts both servers; checks both against `relearn predict` (aborts on a
# mismatch); loads each with wrk (1-row and 1,000-row bodies); then the `swap` phase:
# wrk loads `relearn serve` while a checkpoint is promoted every second, and the
# prediction log is checked against `relearn log`. Writes OUT_DIR/serve-bench.json and
# OUT_DIR/serve-bench.md (default OUT_DIR: $BENCH_DIR/out) and prints the table.
# Leaves nothing running. See bench/serve/README.md.
#
# Environment (defaults):
#   RELEARN        the relearn binary (required)
#   BENCH_DIR      /tmp/relearn-serve-bench: venv, store, bodies, logs
#   DURATION=20    seconds of each measured wrk run (WARMUP=3 s before each)
#   THREADS=2 CONNECTIONS=32   wrk -t / -c
#   WORKERS=2      uvicorn worker processes (one per core of a 2-core machine)
#   ROWS=1000      rows of the large body
#   SERVERS="relearn fastapi"  which servers to measure
#   PHASES="bench variants swap"  which phases to run (variants: relearn serve with
#                  --log-sync fsync, and with a shadow answering every request)
#   SWAP_DURATION=20 SWAP_WINDOW=100   the swap phase: wrk seconds, rows per promoted window
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
: "${RELEARN:?set RELEARN=/path/to/relearn}"
RELEARN=$(command -v "$RELEARN" || true)
[ -x "$RELEARN" ] || { echo "serve.sh: RELEARN is not an executable" >&2; exit 2; }
RELEARN=$(realpath "$RELEARN")
BENCH_DIR=${BENCH_DIR:-/tmp/relearn-serve-bench}
mkdir -p "$BENCH_DIR"
BENCH_DIR=$(realpath "$BENCH_DIR")
OUT_DIR=${1:-$BENCH_DIR/out}
mkdir -p "$OUT_DIR"
OUT_DIR=$(realpath "$OUT_DIR")
DURATION=${DURATION:-20}
WARMUP=${WARMUP:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
WORKERS=${WORKERS:-2}
ROWS=${ROWS:-1000}
SERVERS=${SERVERS:-relearn fastapi}
PHASES=${PHASES:-bench variants swap}
SWAP_DURATION=${SWAP_DURATION:-20}
SWAP_WINDOW=${SWAP_WINDOW:-100}
RUN=quickstart
SWAP_RUN=serve-swap
STORE=$BENCH_DIR/store
VENV=$BENCH_DIR/venv
PY=$VENV/bin/python
UTIL=$HERE/bench_util.py
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the repository

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'serve.sh: %s\n' "$*" >&2; exit 1; }
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }
has_server() { [[ " $SERVERS " == *" $1 "* ]]; }

# ---- processes: every server and wrk started here is stopped on exit ---------------------
PIDS=()
stop_pid() { # PID: SIGTERM to it and its descendants, SIGKILL after 10 s
    local pid=$1 tree
    kill -0 "$pid" 2>/dev/null || return 0
    tree=$(python3 "$UTIL" rss "$pid" 2>/dev/null | python3 -c 'import json,sys; print(" ".join(map(str, json.load(sys.stdin)["pids"])))' 2>/dev/null || echo "$pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    for p in $tree; do kill -KILL "$p" 2>/dev/null || true; done
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ---------------------------------------------------------------------------------
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
if ! command -v wrk >/dev/null; then
    log "installing wrk (apt)"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq wrk >/dev/null
fi
command -v python3 >/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3 python3-venv >/dev/null; }

venv_ok() { [ -x "$PY" ] && "$PY" -c 'import fastapi, uvicorn, uvloop, httptools, torch, numpy, safetensors' 2>/dev/null; }
if ! venv_ok; then
    log "creating $VENV"
    python3 -m venv "$VENV" 2>/dev/null || { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$VENV"; }
    PIP=("$VENV/bin/pip" install -q --disable-pip-version-check)
    # torch, CPU build if one can be had: (1) a local +cpu wheel (PIP_FIND_LINKS,
    # /opt/wheels), (2) PyTorch's CPU index, (3) PyPI, whose Linux x86_64 wheel is the CUDA
    # build and pulls nvidia-* and triton (about 5.4 GB installed; it runs on the CPU).
    pytag=$("$PY" -c 'import sys; print(f"cp{sys.version_info.major}{sys.version_info.minor}")')
    wheel=""
    for d in ${PIP_FIND_LINKS:-} /opt/wheels; do
        [ -d "$d" ] || continue
        wheel=$(ls "$d"/torch-*+cpu-"$pytag"-"$pytag"-*linux*"$(uname -m)".whl 2>/dev/null | sort -V | tail -1 || true)
        [ -n "$wheel" ] && break
    done
    if [ -n "$wheel" ] && "${PIP[@]}" "$wheel"; then
        log "torch: local CPU wheel $wheel"
    elif "${PIP[@]}" --retries 0 --timeout 15 --index-url https://download.pytorch.org/whl/cpu torch 2>/dev/null; then
        log "torch: PyTorch's CPU index"
    else
        log "torch: PyPI (the CUDA build with its nvidia-* packages: about 5.4 GB; it runs on the CPU)"
        "${PIP[@]}" torch
    fi
    "${PIP[@]}" numpy safetensors fastapi "uvicorn[standard]"
    venv_ok || die "the venv at $VENV lacks a package"
fi
TORCH=$("$PY" -c 'import torch; print(torch.__version__)')
log "torch $TORCH, $(wrk --version 2>&1 | head -1)"

# ---- model, reference predictions, request bodies ----------------------------------------
cd "$ROOT"
rm -rf "$STORE"
log "training configs/quickstart.toml into $STORE"
"$RELEARN" run --config configs/quickstart.toml --store "$STORE" > "$BENCH_DIR/train.log"
"$RELEARN" export "$RUN" --format safetensors --out "$BENCH_DIR/model.safetensors" --store "$STORE" > "$BENCH_DIR/export.log"
"$RELEARN" generate --config configs/quickstart.toml --out "$BENCH_DIR/stream.csv" > "$BENCH_DIR/generate.log" 2>&1
total=$(($(wc -l < "$BENCH_DIR/stream.csv") - 1))
[ "$total" -ge "$ROWS" ] || die "the stream has $total rows, fewer than ROWS=$ROWS"
# parity: the last 500 rows; bodies: the last ROWS rows (the target column dropped)
{ head -1 "$BENCH_DIR/stream.csv"; tail -n 500 "$BENCH_DIR/stream.csv"; } > "$BENCH_DIR/parity.csv"
"$RELEARN" predict "$RUN" --csv "$BENCH_DIR/parity.csv" --json --store "$STORE" > "$BENCH_DIR/parity.json"
"$PY" "$UTIL" bodies "$BENCH_DIR/stream.csv" "$BENCH_DIR" --drop y --rows "$ROWS" --skip $((total - ROWS))

cat > "$BENCH_DIR/post.lua" <<'EOF'
-- POST the file named by $BODY as JSON; done() prints one machine-readable line.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open(os.getenv("BODY"), "rb"))
wrk.body = f:read("*a")
f:close()

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
EOF

cat > "$BENCH_DIR/meta.json" <<EOF
{"relearn": "$("$RELEARN" --version | head -1)", "torch": "$TORCH",
 "python": "$("$PY" -c 'import platform; print(platform.python_version())')",
 "wrk": "$(wrk --version 2>&1 | head -1 | cut -c1-60)", "cpus": $(nproc),
 "cpu": "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')",
 "uvicorn_workers": $WORKERS, "duration_s": $DURATION, "warmup_s": $WARMUP,
 "threads": $THREADS, "connections": $CONNECTIONS, "rows": $ROWS,
 "load": "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --latency after a ${WARMUP} s warm-up, on the same $(nproc) cores as the server; uvicorn --workers $WORKERS (one per core), torch on one thread per worker",
 "swap_desc": "wrk -t$THREADS -c$CONNECTIONS -d${SWAP_DURATION}s, 1-row body, on relearn serve while a $SWAP_WINDOW-row window is appended and relearn run promotes a checkpoint once a second"}
EOF

# ---- servers -------------------------------------------------------------------------------
RELEARN_PID="" FASTAPI_PID=""
start_relearn() { # RUN PORT LOG [extra serve flags]
    "$RELEARN" serve --run "$1" --store "$STORE" --addr "127.0.0.1:$2" "${@:4}" 2> "$3" &
    RELEARN_PID=$!
    PIDS+=("$RELEARN_PID")
    "$PY" "$UTIL" wait "http://127.0.0.1:$2/readyz" 60 --pid "$RELEARN_PID" \
        || { tail -20 "$3" >&2; die "relearn serve did not become ready"; }
    log "relearn serve (pid $RELEARN_PID) ready on 127.0.0.1:$2: $(grep -m1 'listening on' "$3" || true)"
}
start_fastapi() { # PORT
    (cd "$HERE" && MODEL="$BENCH_DIR/model.safetensors" exec "$VENV/bin/uvicorn" fastapi_app:app \
        --host 127.0.0.1 --port "$1" --workers "$WORKERS" --log-level warning --no-access-log) \
        2> "$BENCH_DIR/fastapi.log" &
    FASTAPI_PID=$!
    PIDS+=("$FASTAPI_PID")
    "$PY" "$UTIL" wait "http://127.0.0.1:$1/healthz" 180 --pid "$FASTAPI_PID" \
        || { tail -20 "$BENCH_DIR/fastapi.log" >&2; die "uvicorn did not become ready"; }
    # --workers N: the supervisor answers before every worker has loaded; wait for N
    for _ in $(seq 600); do
        [ "$("$PY" "$UTIL" rss "$FASTAPI_PID" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["pids"]) - 1)')" -ge "$WORKERS" ] && break
        sleep 0.1
    done
    sleep 2
    log "uvicorn (pid $FASTAPI_PID, $WORKERS workers) ready on 127.0.0.1:$1"
}

measure() { # NAME URL PID TAG: both bodies, a warm-up then the measured run, one result each
    local name=$1 url=$2 pid=$3 tag=$4 n label out
    for n in 1 "$ROWS"; do
        log "$name, $n-row body: ${WARMUP} s warm-up, ${DURATION} s measured"
        out="$BENCH_DIR/wrk-$tag-$n.txt"
        run_wrk "$url" "$BENCH_DIR/body-$n.json" "$WARMUP" /dev/null
        run_wrk "$url" "$BENCH_DIR/body-$n.json" "$DURATION" "$out" --latency
        "$PY" "$UTIL" rss "$pid" > "$BENCH_DIR/rss-$tag-$n.json"
        label=$([ "$n" = 1 ] && echo "1 row" || echo "$n rows")
        "$PY" "$UTIL" wrk-record "$out" --server "$name" --body "$label" --rows "$n" \
            --rss-json "$BENCH_DIR/rss-$tag-$n.json" >> "$RESULTS"
    done
}

run_wrk() { # URL BODY_FILE SECONDS OUT [extra wrk args]
    local url=$1 body=$2 secs=$3 out=$4
    shift 4
    BODY=$body wrk -t"$THREADS" -c"$CONNECTIONS" -d"${secs}s" --timeout 10s "$@" \
        -s "$BENCH_DIR/post.lua" "$url/v1/predict" > "$out" 2>&1
}

RESULTS=$BENCH_DIR/results.jsonl
: > "$RESULTS"
rm -f "$BENCH_DIR/swap.json"
SWAP_FAILED=0

if has_phase bench; then
    declare -A URL PID_OF
    if has_server relearn; then
        P1=$("$PY" "$UTIL" freeport)
        start_relearn "$RUN" "$P1" "$BENCH_DIR/relearn-serve.log"
        URL[relearn]=http://127.0.0.1:$P1
        PID_OF[relearn]=$RELEARN_PID
    fi
    if has_server fastapi; then
        P2=$("$PY" "$UTIL" freeport)
        start_fastapi "$P2"
        URL[fastapi]=http://127.0.0.1:$P2
        PID_OF[fastapi]=$FASTAPI_PID
    fi
    for s in $SERVERS; do
        log "parity: $s"
        "$PY" "$HERE/check_parity.py" "${URL[$s]}" "$BENCH_DIR/parity.csv" "$BENCH_DIR/parity.json" --drop y \
            || die "$s does not reproduce relearn predict; stopping"
    done
    for s in $SERVERS; do
        measure "$s" "${URL[$s]}" "${PID_OF[$s]}" "$s"
    done
    if [ -n "$RELEARN_PID" ]; then stop_pid "$RELEARN_PID"; fi
    if [ -n "$FASTAPI_PID" ]; then stop_pid "$FASTAPI_PID"; fi
fi

# ---- variants: what the log's fsync and a shadow on every request cost ----------------------
if has_phase variants; then
    # name|flags: the same load on relearn serve started with other flags (the default is
    # --log-sync write)
    for variant in "log-sync fsync|--log-sync fsync" \
        "shadow on every request|--shadow quickstart~1 --shadow-fraction 1"; do
        name=${variant%%|*}
        read -r -a flags <<< "${variant#*|}"
        P4=$("$PY" "$UTIL" freeport)
        start_relearn "$RUN" "$P4" "$BENCH_DIR/relearn-variant.log" "${flags[@]}"
        measure "relearn ($name)" "http://127.0.0.1:$P4" "$RELEARN_PID" "variant-${name// /-}"
        stop_pid "$RELEARN_PID"
    done
fi

# ---- swap: promotions under load -------------------------------------------------------------
if has_phase swap; then
    SW=$BENCH_DIR/swap
    rm -rf "$SW"
    mkdir -p "$SW"
    # A CSV run (the quickstart's stream cut in SWAP_WINDOW-row windows) with no [gate], so
    # every `relearn run` after a window is appended promotes a checkpoint. The first run
    # needs the initial window and one update window.
    head -n $((1 + 2 * SWAP_WINDOW)) "$BENCH_DIR/stream.csv" > "$SW/swap.csv"
    cat > "$SW/swap.toml" <<EOF
[run]
name = "$SWAP_RUN"
mode = "stateful"

[data]
csv = "swap.csv"
target = "y"

[window]
size = $SWAP_WINDOW
initial = 1
EOF
    "$RELEARN" run --config "$SW/swap.toml" --store "$STORE" > "$SW/initial-run.log"
    before=$("$RELEARN" log --run "$SWAP_RUN" --json --store "$STORE" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)))')
    P3=$("$PY" "$UTIL" freeport)
    start_relearn "$SWAP_RUN" "$P3" "$SW/relearn-serve.log"
    log "swap: ${SWAP_DURATION} s of 1-row requests, a promotion every second"
    BODY=$BENCH_DIR/body-1.json wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SWAP_DURATION}s" --timeout 10s --latency \
        -s "$BENCH_DIR/post.lua" "http://127.0.0.1:$P3/v1/predict" > "$SW/wrk.txt" 2>&1 &
    WRK_PID=$!
    PIDS+=("$WRK_PID")
    "$PY" "$UTIL" promote-loop --relearn "$RELEARN" --config "$SW/swap.toml" --store "$STORE" \
        --csv "$SW/swap.csv" --source "$BENCH_DIR/stream.csv" --start $((2 * SWAP_WINDOW)) \
        --window "$SWAP_WINDOW" --while-pid "$WRK_PID" --max-rounds $((SWAP_DURATION + 5)) > "$SW/promotions.jsonl"
    wait "$WRK_PID" || true
    sleep 1
    stop_pid "$RELEARN_PID" # a graceful stop flushes the prediction log
    "$RELEARN" log --run "$SWAP_RUN" --json --store "$STORE" > "$SW/log.json"
    "$PY" "$UTIL" swap-check --store "$STORE" --run "$SWAP_RUN" --log-json "$SW/log.json" \
        --promotions "$SW/promotions.jsonl" --wrk-out "$SW/wrk.txt" --checkpoints-before "$before" \
        --out "$BENCH_DIR/swap.json" || SWAP_FAILED=1
fi

# ---- report ----------------------------------------------------------------------------------
"$PY" "$UTIL" report "$RESULTS" "$OUT_DIR" --swap "$BENCH_DIR/swap.json" --meta "$BENCH_DIR/meta.json"
log "wrote $OUT_DIR/serve-bench.json and $OUT_DIR/serve-bench.md"
[ "$SWAP_FAILED" = 0 ] || die "the swap check failed (see $BENCH_DIR/swap.json)"
