#!/usr/bin/env python3
"""Check a prediction server against `relearn predict --json`.

    check_parity.py URL CSV REFERENCE_JSON [--rows 500] [--batch 100] [--drop y] [--tol 1e-5]

Posts the first --rows rows of CSV to URL/v1/predict (the API of `relearn serve` and of
fastapi_app.py) in requests of --batch rows (the first request holds one row), and
compares every prediction with REFERENCE_JSON, the output of
`relearn predict REF --csv CSV --json` on the same file: the same class and every
probability within --tol (regression: the value within --tol, relative above 1), and the
same checkpoint id (unless --ignore-id). Also checks GET /healthz and that X-Request-Id is
echoed (and generated when absent) in the header and the body.

Exit 0 when everything matches, 1 on a mismatch, 2 when the server can't be used.
Standard library only.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import sys
import urllib.error
import urllib.request

MISSING = {"", "NA", "N/A", "NaN", "null"}


def cell(text: str, raw: bool):
    """A CSV cell as a JSON value: a number when it reads as one, else the string."""
    if raw:
        return text
    s = text.strip()
    if s in MISSING:
        return None if s == "" else s
    try:
        v = float(s)
    except ValueError:
        return text
    return v if math.isfinite(v) else text


def post(url: str, rows: list, request_id: str | None, timeout: float):
    data = json.dumps({"rows": rows}).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/json")
    if request_id is not None:
        req.add_header("X-Request-Id", request_id)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, resp.headers.get("X-Request-Id"), json.loads(resp.read())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("url", help="server base URL, e.g. http://127.0.0.1:8000")
    ap.add_argument("csv", help="CSV with a header row (the file given to relearn predict)")
    ap.add_argument("reference", help="relearn predict --json output for that CSV")
    ap.add_argument("--rows", type=int, default=500, help="rows to check (default 500)")
    ap.add_argument("--batch", type=int, default=100, help="rows per request (default 100)")
    ap.add_argument("--drop", action="append", default=[], help="a column not to send (repeatable)")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--raw-strings", action="store_true", help="send every cell as its CSV text")
    ap.add_argument("--ignore-id", action="store_true", help="don't require the reference's checkpoint id")
    ap.add_argument("--timeout", type=float, default=30.0)
    a = ap.parse_args()
    base = a.url.rstrip("/")

    with open(a.reference) as f:
        ref = json.load(f)
    with open(a.csv, newline="") as f:
        rows = [
            {k: cell(v, a.raw_strings) for k, v in r.items() if k not in a.drop}
            for _, r in zip(range(a.rows), csv.DictReader(f))
        ]
    expected = ref["predictions"][: len(rows)]
    if len(expected) != len(rows):
        print(f"the reference has {len(ref['predictions'])} predictions, the CSV {len(rows)} rows")
        return 2

    try:
        with urllib.request.urlopen(base + "/healthz", timeout=a.timeout) as resp:
            if resp.status != 200:
                print(f"GET /healthz: {resp.status}")
                return 1
    except (urllib.error.URLError, OSError) as e:
        print(f"GET {base}/healthz failed: {e}")
        return 2

    problems: list[str] = []
    got: list = []
    ids = set()
    # the first request: one row, with an X-Request-Id; the second: none (one generated)
    chunks = [rows[:1]] + [rows[i : i + a.batch] for i in range(1, len(rows), a.batch)]
    for n, chunk in enumerate(chunks):
        rid = None if n == 1 else f"parity-{n}"
        try:
            status, header_rid, body = post(base + "/v1/predict", chunk, rid, a.timeout)
        except urllib.error.HTTPError as e:
            print(f"request {n}: HTTP {e.code}: {e.read()[:500]!r}")
            return 1
        except (urllib.error.URLError, OSError) as e:
            print(f"request {n}: {e}")
            return 2
        if status != 200:
            problems.append(f"request {n}: status {status}")
        body_rid = body.get("request_id")
        if rid is not None:
            if header_rid != rid or body_rid != rid:
                problems.append(f"request {n}: X-Request-Id {rid!r} echoed as header {header_rid!r}, body {body_rid!r}")
        elif not header_rid or header_rid != body_rid or not re.fullmatch(r"[0-9a-f]{32}", header_rid):
            problems.append(f"request {n}: generated request id: header {header_rid!r}, body {body_rid!r} (want one uuid4 hex in both)")
        for key in ("id", "run", "predictions"):
            if key not in body:
                problems.append(f"request {n}: no {key!r} in the response")
        ids.add(body.get("id"))
        preds = body.get("predictions", [])
        if len(preds) != len(chunk):
            problems.append(f"request {n}: {len(preds)} predictions for {len(chunk)} rows")
        got.extend(preds)

    if not a.ignore_id and ids != {ref["id"]}:
        problems.append(f"checkpoint id: server {sorted(map(str, ids))}, reference {ref['id']}")

    worst = 0.0
    bad_rows = 0
    for i, (g, e) in enumerate(zip(got, expected)):
        row_bad = []
        if "probabilities" in e:
            if g.get("prediction") != e["prediction"]:
                row_bad.append(f"class {g.get('prediction')!r} != {e['prediction']!r}")
            gp = g.get("probabilities") or {}
            if set(gp) != set(e["probabilities"]):
                row_bad.append(f"classes {sorted(gp)} != {sorted(e['probabilities'])}")
            for c, p in e["probabilities"].items():
                if c in gp:
                    d = abs(float(gp[c]) - float(p))
                    worst = max(worst, d)
                    if not d <= a.tol:
                        row_bad.append(f"p[{c}] {gp[c]} vs {p} (|d| {d:.3g})")
        else:
            try:
                gv, ev = float(g.get("prediction")), float(e["prediction"])
                d = abs(gv - ev) / max(1.0, abs(ev))
            except (TypeError, ValueError):
                d = math.inf
            worst = max(worst, d)
            if not d <= a.tol:
                row_bad.append(f"prediction {g.get('prediction')} vs {e['prediction']}")
        if row_bad:
            bad_rows += 1
            if bad_rows <= 10:
                problems.append(f"row {i}: " + "; ".join(row_bad))

    if bad_rows > 10:
        problems.append(f"... {bad_rows} rows differ in all")
    if problems:
        print(f"PARITY FAILED against {base} ({len(got)} rows):")
        for p in problems:
            print("  " + p)
        return 1
    print(f"parity ok: {base}: {len(got)} rows in {len(chunks)} requests equal relearn predict "
          f"(checkpoint {ref['id'][:12]}; largest difference {worst:.3g}, tolerance {a.tol:g})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
