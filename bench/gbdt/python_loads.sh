#!/usr/bin/env bash
# Does perpetual's own Python package read what `relearn export --format perpetual` writes,
# and do its predictions, with the exported preprocessing applied to raw CSV rows, equal
# `relearn predict`'s?
#
#   bench/gbdt/python_loads.sh            # RELEARN=path/to/relearn, VENV=dir to reuse a venv
#
# Makes a venv (under a temp dir, or $VENV) with perpetual==3.0.0rc2 (the Python package of
# the crate version relearn pins), numpy and pandas (and scikit-learn, which perpetual
# imports), then runs python_loads.py: a small CSV stream (numeric columns with blank cells,
# a text column with blanks and values first seen late), one stateful gbdt run per task
# (regression, binary, three classes; window.size 250), `export --format perpetual`,
# `predict --json`, and a check of each task to 1e-6. Everything it writes lies in a temp
# dir, removed at the end (KEEP=1 keeps it). Exit 0 when every task passes.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
relearn="${RELEARN:-$root/target/debug/relearn}"
if [[ ! -x "$relearn" ]]; then
    echo "no relearn binary at $relearn (build it, or set RELEARN=path)" >&2
    exit 2
fi
relearn="$(cd "$(dirname "$relearn")" && pwd)/$(basename "$relearn")"

work="$(mktemp -d "${TMPDIR:-/tmp}/relearn-python-loads.XXXXXX")"
cleanup() {
    if [[ "${KEEP:-0}" == "1" ]]; then
        echo "kept $work" >&2
    else
        rm -rf "$work"
    fi
}
trap cleanup EXIT

venv="${VENV:-$work/venv}"
python="${PYTHON:-python3}"
if [[ ! -x "$venv/bin/python" ]]; then
    echo "== making a venv in $venv" >&2
    "$python" -m venv "$venv"
fi
# scikit-learn: perpetual 3.0.0rc2's __init__ imports perpetual.sklearn, which needs it.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "perpetual==3.0.0rc2" numpy pandas scikit-learn >&2

"$venv/bin/python" "$here/python_loads.py" --relearn "$relearn" --work "$work"
