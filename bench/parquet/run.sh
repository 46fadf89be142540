#!/usr/bin/env bash
# The Parquet streaming benchmark's data, and pyarrow's single-thread read speed on it.
#
#   bench/parquet/run.sh [ROWS]
#
# Creates a virtual environment under $BENCH_DIR (default /tmp/relearn-parquet-bench) with
# pyarrow and numpy (from the package index, once), writes ROWS rows (default 10,000,000)
# as $BENCH_DIR/data/events/ (Parquet, one file a day) and $BENCH_DIR/data/events_csv/
# (the same rows as CSV) with make_stream.py, each with a relearn config beside it
# (events.toml, events_csv.toml), then times pyarrow reading events/ (pyarrow_read.py).
# An existing data folder is reused when it holds as many rows; delete it to regenerate.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH_DIR:-/tmp/relearn-parquet-bench}
rows=${1:-10000000}
venv=$bench/venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pyarrow, numpy" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --upgrade pip
  "$venv/bin/pip" install --quiet pyarrow numpy
fi
py=$venv/bin/python
data=$bench/data
stamp=$data/.rows
if [ "$(cat "$stamp" 2>/dev/null)" != "$rows" ]; then
  rm -rf "$data"
  "$py" "$here/make_stream.py" --rows "$rows" "$data"
  echo "$rows" > "$stamp"
fi
"$py" "$here/pyarrow_read.py" "$data/events"
echo "data: $data (configs: $data/events.toml, $data/events_csv.toml)"
