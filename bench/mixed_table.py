"""Mixed-table benchmark: a stateful run on a table with string columns and blank cells
against the same run on its numeric columns alone (the issue's acceptance item: at most
1.3x the wall time, flat peak memory).

  python3 bench/mixed_table.py RELEARN_BINARY WORKDIR [--rows 1000000] [--repeat 1]
                               [--window 1000] [--seed 7] [--profile-windows N]

Generates, deterministically (numpy, seeded), a 10-column table in WORKDIR:

  mixed.csv    x0..x5 (6 numeric features), code (5 values), city (200 values, Zipf-like
               frequencies), uid (id-like: ~50,000 distinct values), label (yes/no).
               5 % of the feature cells are blank (each of the 9 feature columns,
               independently per cell); the target is never blank, so both runs see the
               same rows.
  numeric.csv  the same rows with x0..x5 (blanks included) and label only.

The label is a noisy logistic function of x0, x1, x2*x3, code and city (uid carries no
signal): a model that reads the strings can beat one that cannot.

For each table it writes a config (`[run] name`, `[data] csv, target`, `[window] size`;
every other key at its default, mode stateful), then runs `RELEARN run --config X --store
WORKDIR/store-<name>[-<size>]` on a fresh store, once for all the rows and once with
`--windows` covering 250,000 rows (or a quarter of --rows when smaller), measuring wall
time and peak RSS (GNU time's %M). With --repeat N each run is repeated N times (a fresh
store each time) and the minimum wall time (and the max peak RSS) is kept.

Prints: rows, model input width (`show NAME --json` -> extra.model.widths[0]), wall
seconds, seconds per 1k rows, peak MiB at 250k and at --rows rows, the mixed/numeric ratios,
then the mean prequential accuracy, baseline and skill of both runs (`log --run NAME
--json`), and the sum of the checkpoints' train_seconds against wall time (the part spent
training vs. reading, encoding, scoring and storing). --profile-windows N adds a short run
of N windows per table with the same breakdown.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

FEATURES_NUM = [f"x{i}" for i in range(6)]
FEATURES_STR = ["code", "city", "uid"]
TARGET = "label"


def generate(workdir, rows, seed, blank_rate=0.05):
    """Write mixed.csv and numeric.csv; returns their paths. Vectorised: the CSV text is
    built column by column with numpy string operations, no per-row Python loop."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 6)).astype(np.float64)
    x[:, 4] = x[:, 4] * 3.0 + 10.0  # another scale
    x[:, 5] = np.abs(x[:, 5]) * 100.0  # skewed, positive
    code = rng.integers(0, 5, rows)
    # city: 200 values, Zipf-like frequencies
    w = 1.0 / np.arange(1, 201) ** 0.8
    city = rng.choice(200, rows, p=w / w.sum())
    # uid: ~50,000 distinct values over the rows (uniform: every id repeats ~rows/50k times)
    n_ids = 50_000
    uid = rng.integers(0, n_ids, rows)

    code_eff = np.array([-1.5, -0.5, 0.0, 0.7, 1.4])
    city_eff = rng.normal(0.0, 1.0, 200)
    logit = (1.2 * x[:, 0] - 0.9 * x[:, 1] + 0.6 * x[:, 2] * x[:, 3]
             + code_eff[code] + city_eff[city])
    p = 1.0 / (1.0 + np.exp(-logit))
    y = rng.random(rows) < p

    blank = rng.random((rows, 9)) < blank_rate  # 6 numeric + 3 string feature columns

    num_cols = []
    for j in range(6):
        s = np.char.mod("%.4f", x[:, j]).astype(object)
        s[blank[:, j]] = ""
        num_cols.append(s)
    code_s = np.array(list("ABCDE"), dtype=object)[code]
    city_s = np.array([f"city_{i:03d}" for i in range(200)], dtype=object)[city]
    uid_s = np.array([f"u{i:05d}" for i in range(n_ids)], dtype=object)[uid]
    str_cols = [code_s, city_s, uid_s]
    for k in range(3):
        str_cols[k] = str_cols[k].copy()
        str_cols[k][blank[:, 6 + k]] = ""
    label = np.where(y, "yes", "no").astype(object)

    def write(path, header, cols):
        t = time.time()
        line = cols[0]
        for c in cols[1:]:
            line = line + "," + c  # object arrays: element-wise str concat in C loops
        with open(path, "w") as f:
            f.write(",".join(header) + "\n")
            f.write("\n".join(line.tolist()))
            f.write("\n")
        return time.time() - t

    mixed = os.path.join(workdir, "mixed.csv")
    numeric = os.path.join(workdir, "numeric.csv")
    tm = write(mixed, FEATURES_NUM + FEATURES_STR + [TARGET], num_cols + str_cols + [label])
    tn = write(numeric, FEATURES_NUM + [TARGET], num_cols + [label])
    stats = {
        "rows": rows,
        "positive_rate": float(y.mean()),
        "blank_rate_features": float(blank.mean()),
        "blank_rate_numeric": float(blank[:, :6].mean()),
        "blank_rate_strings": float(blank[:, 6:].mean()),
        "distinct_uid": int(len(np.unique(uid))),
        "distinct_city": int(len(np.unique(city))),
        "write_s": (tm, tn),
        "bytes": (os.path.getsize(mixed), os.path.getsize(numeric)),
    }
    return mixed, numeric, stats


def write_config(workdir, name, csv, window):
    path = os.path.join(workdir, f"{name}.toml")
    with open(path, "w") as f:
        f.write(f'[run]\nname = "{name}"\n\n[data]\ncsv = "{csv}"\ntarget = "{TARGET}"\n\n'
                f"[window]\nsize = {window}\n")
    return path


def timed_run(argv, log_path):
    """Run argv under /usr/bin/time; return (wall s, peak RSS KiB, CPU s (user+sys), exit status).
    The RSS comes from GNU time's %M: os.wait4's ru_maxrss would count this Python
    process's own RSS at fork time (Linux keeps the high-water mark across exec)."""
    tfile = log_path + ".time"
    with open(log_path, "w") as log:
        t = time.perf_counter()
        rc = subprocess.call(["/usr/bin/time", "-f", "%e %M %U %S", "-o", tfile] + argv,
                             stdout=log, stderr=subprocess.STDOUT)
        wall = time.perf_counter() - t
    last = open(tfile).read().strip().splitlines()[-1].split()
    return wall, int(last[1]), float(last[2]) + float(last[3]), rc


def relearn_json(binary, args):
    out = subprocess.run([binary] + args, capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def run_summary(binary, name, store):
    log = relearn_json(binary, ["log", "--run", name, "--json", "--store", store])
    if isinstance(log, dict):
        log = log.get("checkpoints", log)
    preq = [c["metrics"]["prequential"] for c in log if c.get("metrics", {}).get("prequential")]

    def mean(k):
        v = [r[k] for r in preq if r.get(k) is not None]
        return sum(v) / len(v) if v else float("nan")

    train = sum(float(c.get("train_seconds") or 0.0) for c in log)
    skipped = sum(int(c.get("samples_skipped") or 0) for c in log)
    show = relearn_json(binary, ["show", name, "--json", "--store", store])
    widths = show["extra"]["model"]["widths"]
    return {
        "checkpoints": len(log),
        "scored": len(preq),
        "accuracy": mean("accuracy"),
        "baseline": mean("baseline"),
        "skill": mean("skill"),
        "train_s": train,
        "skipped": skipped,
        "widths": widths,
    }


def measure_once(binary, workdir, name, config, windows, tag, r):
    store = os.path.join(workdir, f"store-{name}{tag}")
    shutil.rmtree(store, ignore_errors=True)
    argv = [binary, "run", "--config", config, "--store", store]
    if windows is not None:
        argv += ["--windows", str(windows)]
    log = os.path.join(workdir, f"run-{name}{tag}-{r}.log")
    wall, peak, cpu, rc = timed_run(argv, log)
    if rc != 0:
        sys.exit(f"{' '.join(argv)} failed with exit code {rc}; see {log}")
    print(f"  {name}{tag or ''} try {r + 1}: {wall:.2f} s wall, {cpu:.2f} s CPU, peak {peak / 1024:.1f} MiB, "
          f"load {' '.join(uptime())}", flush=True)
    s = run_summary(binary, name, store)
    s.update(wall=wall, cpu=cpu, peak_kib=peak, store=store)
    return s


def measure_all(binary, workdir, cfg, runs, repeat):
    """runs: [(key, windows, tag)]. Rounds alternate the two tables run by run (numeric,
    mixed, numeric, mixed, ...) so both see the same phase of a shared machine; each try
    starts from a fresh store. Keeps the min wall, min CPU, max peak over the tries."""
    tries = {(n, k): [] for n in cfg for k, _, _ in runs}
    for r in range(repeat):
        for k, windows, tag in runs:
            for name in ("numeric", "mixed"):
                tries[(name, k)].append(measure_once(binary, workdir, name, cfg[name], windows, tag, r))
    res = {n: {} for n in cfg}
    for (name, k), t in tries.items():
        best = dict(t[-1])
        best.update(wall=min(x["wall"] for x in t), cpu=min(x["cpu"] for x in t),
                    peak_kib=max(x["peak_kib"] for x in t),
                    train_s=min(x["train_s"] for x in t),
                    walls=[x["wall"] for x in t], cpus=[x["cpu"] for x in t],
                    peaks=[x["peak_kib"] for x in t], trains=[x["train_s"] for x in t])
        res[name][k] = best
    return res


def uptime():
    try:
        return open("/proc/loadavg").read().split()[:3]
    except OSError:
        return ["?"] * 3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("binary")
    ap.add_argument("workdir")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--window", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--profile-windows", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="RELEARN_THREADS for the runs (0: relearn's default, all cores)")
    a = ap.parse_args()
    if a.threads:
        os.environ["RELEARN_THREADS"] = str(a.threads)
    binary = os.path.abspath(a.binary)
    os.makedirs(a.workdir, exist_ok=True)
    workdir = os.path.abspath(a.workdir)

    print(f"load before: {' '.join(uptime())}", flush=True)
    t = time.time()
    mixed, numeric, st = generate(workdir, a.rows, a.seed)
    print(f"generated {a.rows:,} rows in {time.time() - t:.1f} s: mixed.csv {st['bytes'][0] / 2**20:.1f} MiB, "
          f"numeric.csv {st['bytes'][1] / 2**20:.1f} MiB; positives {st['positive_rate']:.3f}, "
          f"blank feature cells {st['blank_rate_features']:.4f} (numeric {st['blank_rate_numeric']:.4f}, "
          f"strings {st['blank_rate_strings']:.4f}), distinct uid {st['distinct_uid']:,}, "
          f"city {st['distinct_city']}", flush=True)

    cfg = {"mixed": write_config(workdir, "mixed", mixed, a.window),
           "numeric": write_config(workdir, "numeric", numeric, a.window)}
    part_rows = min(250_000, a.rows // 4)
    part_windows = part_rows // a.window
    runs = [("full", None, ""), ("part", part_windows, f"-{part_windows}w")]
    if a.profile_windows:
        runs.append(("prof", a.profile_windows, f"-{a.profile_windows}w"))
    res = measure_all(binary, workdir, cfg, runs, a.repeat)
    print(f"load after: {' '.join(uptime())}", flush=True)

    n, m = res["numeric"], res["mixed"]
    rk = f"{part_rows // 1000}k"
    fk = f"{a.rows // 1000}k" if a.rows < 1_000_000 else f"{a.rows / 1e6:g}M"
    print()
    print(f"threads: RELEARN_THREADS={os.environ.get('RELEARN_THREADS', '(default: all cores)')}; "
          f"{a.repeat} tries per run, min wall / min CPU / max peak")
    print(f"| table | rows | inputs | wall s | s / 1k rows | CPU s | peak MiB @ {rk} | peak MiB @ {fk} |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in (("numeric", n), ("mixed", m)):
        f, p = r["full"], r["part"]
        print(f"| {name} | {a.rows:,} | {f['widths'][0]} | {f['wall']:.2f} | {f['wall'] / (a.rows / 1000):.4f} "
              f"| {f['cpu']:.2f} | {p['peak_kib'] / 1024:.1f} | {f['peak_kib'] / 1024:.1f} |")
    ratio = m["full"]["wall"] / n["full"]["wall"]
    print(f"| ratio mixed/numeric | | | {ratio:.3f} | {ratio:.3f} | {m['full']['cpu'] / n['full']['cpu']:.3f} "
          f"| {m['part']['peak_kib'] / n['part']['peak_kib']:.3f} | {m['full']['peak_kib'] / n['full']['peak_kib']:.3f} |")
    print()
    print(f"wall ratio mixed/numeric: {ratio:.3f} ({'within' if ratio <= 1.3 else 'OVER'} 1.3x); "
          f"peak growth {rk} -> {fk}: numeric {n['full']['peak_kib'] / n['part']['peak_kib']:.3f}x, "
          f"mixed {m['full']['peak_kib'] / m['part']['peak_kib']:.3f}x")
    print()
    print("| table | widths | checkpoints | scored windows | mean accuracy | mean baseline | mean skill | rows skipped |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, r in (("numeric", n), ("mixed", m)):
        f = r["full"]
        print(f"| {name} | {f['widths']} | {f['checkpoints']} | {f['scored']} | {f['accuracy']:.4f} "
              f"| {f['baseline']:.4f} | {f['skill']:.4f} | {f['skipped']} |")
    print()
    print("time breakdown (sum of checkpoints' train_seconds vs. the rest of the wall time):")
    print("| table | run | wall s | CPU s | train s | other s (read, encode, score, store) | train share |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    keys = [("full", fk), ("part", rk)] + ([("prof", f"{a.profile_windows} windows")] if a.profile_windows else [])
    print("(min over tries of each column separately; other = min wall - min train)")
    for k, label in keys:
        for name, r in (("numeric", n), ("mixed", m)):
            x = r[k]
            print(f"| {name} | {label} | {x['wall']:.2f} | {x['cpu']:.2f} | {x['train_s']:.2f} | {x['wall'] - x['train_s']:.2f} "
                  f"| {x['train_s'] / x['wall']:.2f} |")
    for k, label in keys:
        print(f"ratios mixed/numeric @ {label}: wall {m[k]['wall'] / n[k]['wall']:.3f}, CPU {m[k]['cpu'] / n[k]['cpu']:.3f}, "
              f"train {m[k]['train_s'] / max(n[k]['train_s'], 1e-9):.3f}, "
              f"other {(m[k]['wall'] - m[k]['train_s']) / max(n[k]['wall'] - n[k]['train_s'], 1e-9):.3f}")
    if a.repeat > 1:
        print()
        for name, r in (("numeric", n), ("mixed", m)):
            for k, label in keys:
                print(f"{name} @ {label}: walls {['%.2f' % w for w in r[k]['walls']]}, "
                      f"CPU {['%.2f' % w for w in r[k]['cpus']]}, train {['%.2f' % w for w in r[k]['trains']]}, "
                      f"peaks MiB {['%.1f' % (p / 1024) for p in r[k]['peaks']]}")
    with open(os.path.join(workdir, "results.json"), "w") as fh:
        json.dump({"args": vars(a), "data": st, "results": res, "ratio": ratio}, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
