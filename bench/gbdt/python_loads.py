#!/usr/bin/env python3
"""Loads `relearn export --format perpetual` stages with perpetual's own Python package and
checks that they, with the exported preprocessing applied to raw CSV rows, reproduce
`relearn predict --json`.

Run by python_loads.sh (which makes the venv); by hand:

    python python_loads.py --relearn target/debug/relearn --work /tmp/somewhere

Per task (regression, binary, three classes) it prints PASS or FAIL with the largest
difference, and exits 1 when any task fails.

How relearn computes a prediction (so that this script can follow it bit for bit):

- a numeric cell is parsed to f32 (a blank cell, or one of `encoders.missing`, is missing
  and takes the scaler's mean, cast to f32); the scaler computes `(f64(x) - mean) / std`
  in f64, clips it to +-clip and casts it to f32;
- then come the missing indicators (1 where the cell was missing) and each categorical
  column's `slots + buckets` inputs (one-hot by vocabulary, else hashed by FNV-1a 64);
- the forest reads those f32 inputs as f64; an output is `constant + sum of its stages'
  predictions` in f64 (stage by stage, in order), cast to f32;
- regression: `f32(f64(out) * target_std + target_mean)`;
- classification: logits `[0, out]` (two classes) or one per class; class = the first
  argmax; probabilities = softmax in f64 of the f32 logits.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import traceback

import numpy as np

TOL = 1e-6
ROWS = 1500  # the stream: six windows of 250
WINDOW = 250
PREDICT_ROWS = 400

CITIES = ["paris", "lyon", "nice", "lille", "brest"]
LATE_CITY = "metz"  # first seen after the initial window
NEW_CITY = "oslo"  # never seen in training: only in the rows predicted


# ---------------------------------------------------------------------------------------
# Data


def make_rows(n: int, seed: int, start: int, predict: bool) -> list[dict[str, str]]:
    """`n` rows of the stream: x0, x1 (some blank), x2, city (some blank), and three targets.
    A concept change half way through the stream (row 750) makes later stages matter."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(start, start + n):
        x0 = rng.normal(10.0, 3.0)
        x1 = rng.uniform(-5.0, 5.0)
        x2 = rng.exponential(2.0)
        pool = CITIES + ([LATE_CITY] if i >= 600 else [])
        if predict:
            pool = pool + [NEW_CITY]
        city = pool[rng.integers(len(pool))]
        noise = rng.normal(0.0, 0.5)
        drift = i >= 750
        city_effect = {
            "paris": 1.5,
            "lyon": -1.0,
            "nice": 0.5,
            "lille": -0.5,
            "brest": 0.0,
            LATE_CITY: 2.0,
            NEW_CITY: 0.0,
        }[city]
        score = (x0 - 10.0) / 3.0 + (0.6 if not drift else -0.6) * x1 / 2.5 + 0.3 * city_effect
        y_reg = 20.0 + 2.0 * x0 + 3.0 * math.sin(x1) - 0.8 * x2 + city_effect + noise
        if drift:
            y_reg += 1.5 * x2
        y_bin = "yes" if score + 0.3 * noise > 0 else "no"
        s3 = score + 0.3 * noise
        y_cls = "low" if s3 < -0.5 else ("mid" if s3 < 0.5 else "high")
        cells = {
            "x0": f"{x0:.4f}",
            "x1": f"{x1:.4f}",
            "x2": f"{x2:.4f}",
            "city": city,
            "y_reg": f"{y_reg:.4f}",
            "y_bin": y_bin,
            "y_cls": y_cls,
        }
        # A few blank cells: x1 in about 4 % of rows (the initial window included, so x1
        # gets a missing indicator), x2 in about 2 % of the later rows (no indicator: imputed
        # only), city in about 3 %.
        if rng.random() < 0.04:
            cells["x1"] = ""
        if i >= WINDOW and rng.random() < 0.02:
            cells["x2"] = ""
        if rng.random() < 0.03:
            cells["city"] = ""
        rows.append(cells)
    if predict:
        # Inputs beyond the scaler's clip, the missing spellings, a blank everywhere.
        rows[0].update(x0="1000", x2="0")
        rows[1].update(x0="-1000", x1="NA", city="null")
        rows[2].update(x0="", x1="", x2="", city="")
        rows[3].update(x1="N/A", x2="NaN", city=NEW_CITY)
    return rows


COLUMNS = ["x0", "x1", "x2", "city", "y_reg", "y_bin", "y_cls"]


def write_csv(path: str, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="") as f:
        f.write(",".join(COLUMNS) + "\n")
        for r in rows:
            f.write(",".join(r[c] for c in COLUMNS) + "\n")


# ---------------------------------------------------------------------------------------
# relearn


class CommandFailed(Exception):
    pass


def relearn(binary: str, work: str, *args: str) -> str:
    cmd = [binary, *args, "--store", os.path.join(work, "store")]
    p = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
    if p.returncode != 0:
        raise CommandFailed(
            f"`relearn {' '.join(args)}` exited {p.returncode}:\n{p.stderr.strip()[-3000:]}"
        )
    return p.stdout


def config(name: str, target: str, task: str) -> str:
    return f"""[run]
name = "{name}"
mode = "stateful"
seed = 7

[data]
csv = "stream.csv"
target = "{target}"
features = ["x0", "x1", "x2", "city"]
task = "{task}"

[window]
size = {WINDOW}
initial = 1

[model]
kind = "gbdt"
"""


# ---------------------------------------------------------------------------------------
# The exported preprocessing, applied to raw rows


def fnv1a64(text: str) -> int:
    h = 0xCBF29CE484222325
    for b in text.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def inputs(meta: dict, rows: list[dict[str, str]]) -> np.ndarray:
    """The model inputs (float32, rows x inputs) of raw CSV rows, from the metadata alone."""
    features = json.loads(meta["feature_names"])
    mean = np.array(json.loads(meta["scaler_mean"]), dtype=np.float64)
    std = np.array(json.loads(meta["scaler_std"]), dtype=np.float64)
    standardises = meta["scaler_mode"] != "none"
    clip = float(meta["scaler_clip"]) if standardises else math.inf
    enc = json.loads(meta["encoders"]) if "encoders" in meta else None
    missing = set(enc["missing"]) if enc else {"", "NA", "N/A", "NaN", "null"}
    if standardises:
        fill = list(mean)
    elif enc and len(enc.get("fill") or []) == len(features):
        fill = [f["mean"] for f in enc["fill"]]
    else:
        fill = [0.0] * len(features)

    out = []
    for r in rows:
        cells = [r[c].strip() for c in features]
        blank = [c in missing for c in cells]
        # Parsed to f32 (short decimals: parsing via f64 rounds the same as Rust's
        # `parse::<f32>`); a missing cell takes the fill value cast to f32.
        num = np.array(
            [np.float32(fill[j]) if blank[j] else np.float32(float(c)) for j, c in enumerate(cells)],
            dtype=np.float32,
        )
        scaled = np.clip((num.astype(np.float64) - mean) / std, -clip, clip).astype(np.float32)
        row = list(scaled)
        if enc:
            row += [np.float32(1.0 if blank[j] else 0.0) for j in enc["indicators"]]
            for col in enc["categorical"]:
                one = [np.float32(0.0)] * (col["slots"] + col["buckets"])
                v = r[col["name"]].strip()
                if v not in missing and v != "":
                    if v in col["vocabulary"]:
                        one[col["vocabulary"].index(v)] = np.float32(1.0)
                    elif col["buckets"]:
                        one[col["slots"] + fnv1a64(v) % col["buckets"]] = np.float32(1.0)
                row += one
        out.append(row)
    return np.array(out, dtype=np.float32)


# ---------------------------------------------------------------------------------------
# perpetual


def key_paths(v, prefix="") -> set[str]:
    """The JSON's key paths (list items merged), to compare two boosters' schemas."""
    paths = set()
    if isinstance(v, dict):
        for k, sub in v.items():
            # Tree nodes are keyed by node number: merge them.
            name = "<n>" if k.isdigit() else k
            p = f"{prefix}.{name}" if prefix else name
            paths.add(p)
            paths |= key_paths(sub, p)
    elif isinstance(v, list):
        for item in v[:3]:
            paths |= key_paths(item, prefix + "[]")
    return paths


def diagnose(stage: dict, path: str) -> str:
    """Why perpetual cannot read a stage: the crate-level loaders' own errors (the Python
    wrapper retries with the multi-output loader and so can report that one's error
    instead), and the fields that differ from a booster perpetual's Python fits itself."""
    import perpetual
    from perpetual.perpetual import MultiOutputBooster as CrateMulti
    from perpetual.perpetual import PerpetualBooster as CrateBooster

    lines = []
    text = json.dumps(stage)
    for label, fn in [
        ("perpetual.perpetual.PerpetualBooster.from_json", lambda: CrateBooster.from_json(text)),
        ("perpetual.perpetual.PerpetualBooster.load_booster", lambda: CrateBooster.load_booster(path)),
        ("perpetual.perpetual.MultiOutputBooster.from_json", lambda: CrateMulti.from_json(text)),
    ]:
        try:
            fn()
            lines.append(f"    {label}: loads")
        except Exception as e:  # noqa: BLE001 - reported as it is
            lines.append(f"    {label}: {type(e).__name__}: {e}")
    try:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(300, 3))
        y = x[:, 0] + 0.1 * rng.normal(size=300)
        ref = perpetual.PerpetualBooster(objective="SquaredLoss", budget=0.5)
        ref.fit(x, y)
        mine = json.loads(ref.json_dump())
        a, b = key_paths(stage), key_paths(mine)
        lines.append(f"    fields in relearn's stage but not in a Python-fitted booster: {sorted(a - b)}")
        lines.append(f"    fields in a Python-fitted booster but not in relearn's stage: {sorted(b - a)}")
        for k in sorted(set(stage) | set(mine)):
            if k in ("trees", "metadata"):
                continue
            if stage.get(k) != mine.get(k):
                lines.append(f"    {k}: relearn {json.dumps(stage.get(k))[:200]}  python {json.dumps(mine.get(k))[:200]}")
    except Exception as e:  # noqa: BLE001
        lines.append(f"    (could not fit a reference booster: {type(e).__name__}: {e})")
    return "\n".join(lines)


def load_stage(stage: dict, path: str):
    """The stage through both of perpetual's loaders; they must agree."""
    from perpetual import PerpetualBooster

    with open(path, "w") as f:
        json.dump(stage, f)
    by_file = PerpetualBooster.load_booster(path)
    by_text = PerpetualBooster.from_json(json.dumps(stage))
    return by_file, by_text


# ---------------------------------------------------------------------------------------
# One task


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def first_argmax(logits: np.ndarray) -> np.ndarray:
    """relearn's argmax: the first strictly greatest (np.argmax also takes the first)."""
    return logits.argmax(axis=1)


def check_task(binary: str, work: str, name: str, target: str, task: str, rows) -> dict:
    res = {"task": name, "ok": False, "detail": []}
    say = res["detail"].append
    cfg = os.path.join(work, f"{name}.toml")
    with open(cfg, "w") as f:
        f.write(config(name, target, task))
    relearn(binary, work, "run", "--config", cfg)
    out = os.path.join(work, f"{name}.json")
    relearn(binary, work, "export", name, "--format", "perpetual", "--out", out)
    pred = json.loads(relearn(binary, work, "predict", name, "--csv", os.path.join(work, "rows.csv"), "--json"))
    with open(out) as f:
        doc = json.load(f)
    meta = doc["metadata"]
    if pred["id"] != meta["checkpoint_id"]:
        say(f"predict used {pred['id']}, the export is of {meta['checkpoint_id']}")
        return res
    classes = json.loads(meta["classes"])
    x = inputs(meta, rows)
    x64 = x.astype(np.float64)
    shape = [
        f"{len(o['stages'])} stages/{sum(len(s['trees']) for s in o['stages'])} trees"
        for o in doc["outputs"]
    ]
    say(f"checkpoint {meta['checkpoint_id'][:12]} (window {meta['window']}), {x.shape[1]} inputs, "
        f"outputs: {', '.join(shape)}")

    # Each output: constant + its stages' predictions, in f64, stage by stage.
    raw = []
    loader_mismatch = 0.0
    for k, o in enumerate(doc["outputs"]):
        acc = np.full(len(rows), float(o["constant"]), dtype=np.float64)
        for s, stage in enumerate(o["stages"]):
            path = os.path.join(work, f"{name}.out{k}.stage{s}.json")
            try:
                by_file, by_text = load_stage(stage, path)
            except Exception as e:  # noqa: BLE001 - reported as it is
                say(f"output {k} stage {s}: perpetual cannot load it: {type(e).__name__}: {e}")
                say(diagnose(stage, path))
                return res
            n_features = getattr(by_file, "n_features_", None)
            if n_features != x.shape[1]:
                say(f"output {k} stage {s}: n_features_ {n_features!r}, the inputs are {x.shape[1]}")
                return res
            if len(by_file.classes_) != 0:
                say(f"output {k} stage {s}: classes_ {by_file.classes_!r}: predict would not be raw")
                return res
            p = np.asarray(by_file.predict(x64), dtype=np.float64)
            q = np.asarray(by_text.predict(x64), dtype=np.float64)
            loader_mismatch = max(loader_mismatch, float(np.max(np.abs(p - q))))
            acc += p
        raw.append(acc.astype(np.float32))
    raw = np.stack(raw, axis=1)  # rows x outputs, f32
    if loader_mismatch:
        say(f"load_booster and from_json disagree by {loader_mismatch:.3g}")
        return res

    preds = pred["predictions"]
    if len(preds) != len(rows):
        say(f"predict gave {len(preds)} predictions for {len(rows)} rows")
        return res
    if task == "regression":
        t_mean = float(meta.get("target_mean", 0.0))
        t_std = float(meta.get("target_std", 1.0))
        mine = (raw[:, 0].astype(np.float64) * t_std + t_mean).astype(np.float32).astype(np.float64)
        theirs = np.array([p["prediction"] for p in preds], dtype=np.float64)
        rel = np.abs(mine - theirs) / np.maximum(np.abs(theirs), 1e-12)
        res["max_rel"] = float(rel.max())
        res["max_abs"] = float(np.abs(mine - theirs).max())
        res["ok"] = res["max_rel"] <= TOL
        say(f"max relative difference {res['max_rel']:.3g} (absolute {res['max_abs']:.3g}) over "
            f"{len(rows)} rows; predictions span {theirs.min():.3f}..{theirs.max():.3f}")
        if not res["ok"]:
            worst = int(rel.argmax())
            say(f"worst row {worst}: python {mine[worst]!r}, relearn {theirs[worst]!r}")
    else:
        logits = (
            np.concatenate([np.zeros((len(rows), 1), np.float32), raw], axis=1)
            if len(classes) == 2
            else raw
        )
        if logits.shape[1] != len(classes):
            say(f"{logits.shape[1]} logits for {len(classes)} classes")
            return res
        probs = softmax(logits)
        mine_cls = [classes[i] for i in first_argmax(logits)]
        theirs_cls = [p["prediction"] for p in preds]
        theirs_p = np.array([[p["probabilities"][c] for c in classes] for p in preds])
        wrong = sum(a != b for a, b in zip(mine_cls, theirs_cls))
        res["class_mismatches"] = wrong
        res["max_abs"] = float(np.abs(probs - theirs_p).max())
        res["ok"] = wrong == 0 and res["max_abs"] <= TOL
        counts = {c: theirs_cls.count(c) for c in classes}
        say(f"{wrong} of {len(rows)} classes differ; max probability difference "
            f"{res['max_abs']:.3g}; relearn predicted {counts}")
        if not res["ok"]:
            worst = int(np.abs(probs - theirs_p).max(axis=1).argmax())
            say(f"worst row {worst}: python {probs[worst].tolist()}, relearn {theirs_p[worst].tolist()}")
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--relearn", required=True)
    ap.add_argument("--work", required=True, help="a scratch folder (everything goes here)")
    args = ap.parse_args()

    import importlib.metadata

    try:
        import perpetual  # noqa: F401
    except Exception as e:  # noqa: BLE001
        print(f"FAIL: `import perpetual` raised {type(e).__name__}: {e}")
        return 1
    version = importlib.metadata.version("perpetual")
    print(f"perpetual {version} (Python), numpy {np.__version__}, relearn {args.relearn}")

    stream = make_rows(ROWS, seed=11, start=0, predict=False)
    rows = make_rows(PREDICT_ROWS, seed=12, start=ROWS, predict=True)
    write_csv(os.path.join(args.work, "stream.csv"), stream)
    write_csv(os.path.join(args.work, "rows.csv"), rows)

    tasks = [
        ("reg", "y_reg", "regression"),
        ("binary", "y_bin", "classification"),
        ("three", "y_cls", "classification"),
    ]
    results = []
    for name, target, task in tasks:
        try:
            r = check_task(args.relearn, args.work, name, target, task, rows)
        except CommandFailed as e:
            r = {"task": name, "ok": False, "detail": [str(e)]}
        except Exception:  # noqa: BLE001
            r = {"task": name, "ok": False, "detail": [traceback.format_exc()]}
        results.append(r)
        print(f"{'PASS' if r['ok'] else 'FAIL'} {name} ({target}, {task})")
        for line in r["detail"]:
            print(f"  {line}")
    passed = sum(r["ok"] for r in results)
    print(f"{passed} of {len(results)} tasks pass (tolerance {TOL:g})")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
