"""The markdown tables of docs/measurements-issue22.md, from the raw results that
bench/issue22.sh writes (`real_tables.py ... --jsonl`):

  python3 bench/issue22_report.py RESULTS [--tables a,b] [--window-of table=N]...

RESULTS/policies.jsonl (relearn, one line per run: the four policies with their
defaults), RESULTS/fraction.jsonl (stateless with `stateless.initial_fraction` set) and
RESULTS/sklearn.jsonl (scikit-learn's MLP). Every figure is the mean over the scored windows
of one run, then the mean (± the standard deviation) over the seeds found.

"Worse than the no-skill baseline by more than 10 %": the model's loss is more than 1.1
times the baseline's, the loss being the mean mse (regression) or the mean error rate,
1 - accuracy (classification). That is the issue's done-when criterion where scikit-learn's
MLP beats the baseline (its loss below the baseline's).
"""
import argparse
import json
import os
import sys

import numpy as np

POLICIES = ["stateful", "stateless", "replay", "drift"]
FRACTIONS = ["0", "0.1", "0.3", "0.5"]


def load(path):
    if not os.path.exists(path):
        return []
    with open(path) as fh:
        return [json.loads(line) for line in fh if line.strip()]


def loss(task, score):
    return score if task == "regression" else 1.0 - score


def fmt(task, v, sd=None):
    d = 4 if task == "classification" else 1
    s = f"{v:,.{d}f}"
    if sd is not None:
        s += f" ± {sd:,.{d}f}"
    return s


def summary(rows):
    """mean score, its sd over seeds, mean baseline, mean last-window score, mean train s."""
    means = [float(np.mean(r["scores"])) for r in rows]
    return dict(score=float(np.mean(means)), sd=float(np.std(means)) if len(means) > 1 else None,
                base=float(np.mean([np.mean(r["baselines"]) for r in rows])),
                last=float(np.mean([r["scores"][-1] for r in rows])),
                train=float(np.mean([r.get("train_seconds", r.get("seconds", 0.0)) for r in rows])),
                seeds=sorted({r["seed"] for r in rows}), task=rows[0]["task"],
                worst=[max(zip(r.get("windows", range(1, len(r["scores"]) + 1)),
                               (s / b if b > 0 else float("inf") for s, b in zip(r["scores"], r["baselines"]))),
                           key=lambda p: p[1]) for r in rows] if rows[0]["task"] == "regression" else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("--tables", help="tables, in this order (default: as found)")
    ap.add_argument("--window-of", action="append", default=[], metavar="TABLE=N",
                    help="only the runs of TABLE with this window size")
    a = ap.parse_args()
    pol = load(os.path.join(a.results, "policies.jsonl"))
    frac = load(os.path.join(a.results, "fraction.jsonl"))
    skl = [r for r in load(os.path.join(a.results, "sklearn.jsonl"))
           if r.get("scale", True) and r.get("target_std", True) and r.get("epochs", 3) == 3]
    only = dict(kv.split("=") for kv in a.window_of)
    keep = lambda r: str(r["window"]) == only[r["table"]] if r["table"] in only else True
    pol, frac, skl = [r for r in pol if keep(r)], [r for r in frac if keep(r)], [r for r in skl if keep(r)]
    tables = a.tables.split(",") if a.tables else list(dict.fromkeys(r["table"] for r in pol))
    if not pol:
        sys.exit(f"no runs in {a.results}/policies.jsonl")

    # ---------------------------------------------------------------- policies vs baseline
    print("| table | metric | window | seeds | no-skill baseline | scikit-learn | " +
          " | ".join(POLICIES) + " | train s (stateful / stateless / replay / drift) |")
    print("| --- | --- | ---: | --- | ---: | ---: | " + " | ".join("---:" for _ in POLICIES) + " | ---: |")
    flagged = []
    for t in tables:
        runs = {p: [r for r in pol if r["table"] == t and r["mode"] == p and r["setting"] == "defaults"]
                for p in POLICIES}
        if not any(runs.values()):
            continue
        first = next(v for v in runs.values() if v)
        task, window = first[0]["task"], first[0]["window"]
        sums = {p: summary(v) for p, v in runs.items() if v}
        base = next(iter(sums.values()))["base"]
        sk_rows = [r for r in skl if r["table"] == t and r["window"] == window]
        sk = summary(sk_rows) if sk_rows else None
        sk_beats = sk is not None and loss(task, sk["score"]) < loss(task, base)
        cells = []
        for p in POLICIES:
            if p not in sums:
                cells.append("")
                continue
            s = sums[p]
            ratio = loss(task, s["score"]) / loss(task, base)
            mark = ""
            if ratio > 1.1:
                mark = " **(>10 % worse)**" if sk_beats else " (>10 % worse; sklearn no better)"
                flagged.append((t, p, ratio, sk_beats))
            cells.append(fmt(task, s["score"], s["sd"]) + mark)
        metric = "mse" if task == "regression" else "accuracy"
        seeds = ",".join(map(str, next(iter(sums.values()))["seeds"]))
        train = " / ".join(f"{sums[p]['train']:.2f}" if p in sums else "—" for p in POLICIES)
        print(f"| {t} | {metric} | {window} | {seeds} | {fmt(task, base)} | "
              f"{fmt(task, sk['score'], sk['sd']) if sk else '—'} | " + " | ".join(cells) + f" | {train} |")
    print()
    print("loss over the baseline's (mse, or error rate = 1 - accuracy), policies more than 1.1:")
    for t, p, ratio, sk_beats in flagged:
        print(f"- {t}, {p}: {ratio:.2f}x the baseline's loss" +
              ("" if sk_beats else " (scikit-learn does not beat the baseline there)"))
    print()

    # ---------------------------------------------------------------- worst windows (regression)
    print("| table | policy | worst window per seed (mse / baseline) |")
    print("| --- | --- | --- |")
    for t in tables:
        for p in POLICIES:
            rows = [r for r in pol if r["table"] == t and r["mode"] == p and r["setting"] == "defaults"]
            if rows and rows[0]["task"] == "regression":
                w = summary(rows)["worst"]
                print(f"| {t} | {p} | " + "; ".join(f"window {wi}: {v:,.1f}" for wi, v in w) + " |")
    print()

    # ---------------------------------------------------------------- initial_fraction
    print("| table | metric | seeds | " + " | ".join(f"f = {f}: mean" for f in FRACTIONS) + " | " +
          " | ".join(f"f = {f}: last window" for f in FRACTIONS) + " | best mean |")
    print("| --- | --- | --- | " + " | ".join("---:" for _ in FRACTIONS * 2) + " | --- |")
    rel = {f: [] for f in FRACTIONS}
    ranks = {f: [] for f in FRACTIONS}
    for t in tables:
        by = {}
        for f in FRACTIONS:
            if f == "0.3":
                rows = [r for r in pol if r["table"] == t and r["mode"] == "stateless" and r["setting"] == "defaults"]
            else:
                rows = [r for r in frac if r["table"] == t and r["setting"] == f"stateless.initial_fraction={f}"]
            if rows:
                by[f] = summary(rows)
        if len(by) < len(FRACTIONS):
            continue
        task = by["0.3"]["task"]
        losses = {f: loss(task, by[f]["score"]) for f in FRACTIONS}
        best = min(losses, key=losses.get)
        order = sorted(FRACTIONS, key=losses.get)
        for f in FRACTIONS:
            rel[f].append(losses[f] / losses["0.3"] - 1)
            ranks[f].append(order.index(f) + 1)
        seeds = ",".join(map(str, by["0.3"]["seeds"]))
        print(f"| {t} | {'mse' if task == 'regression' else 'accuracy'} | {seeds} | " +
              " | ".join(("**" + fmt(task, by[f]["score"]) + "**") if f == best else fmt(task, by[f]["score"])
                         for f in FRACTIONS) + " | " +
              " | ".join(fmt(task, by[f]["last"]) for f in FRACTIONS) + f" | {best} |")
    if ranks["0"]:
        print()
        print("| initial_fraction | mean rank (1 = best) | tables where best | median loss change vs 0.3 | "
              "mean loss change vs 0.3 |")
        print("| ---: | ---: | ---: | ---: | ---: |")
        for f in FRACTIONS:
            print(f"| {f} | {np.mean(ranks[f]):.2f} | {sum(r == 1 for r in ranks[f])} of {len(ranks[f])} | "
                  f"{np.median(rel[f]) * 100:+.1f} % | {np.mean(rel[f]) * 100:+.1f} % |")


if __name__ == "__main__":
    main()
