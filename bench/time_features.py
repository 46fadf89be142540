"""Which calendar features a time column becomes (issue 25, part A), measured.

Builds, from the CSVs that `bench/real_tables.py fetch OUT` writes, tables with a real
timestamp or date column in place of the calendar columns `fetch` split the date into, then
runs relearn (stateful, defaults, row windows as in docs/real-tables.md) on each with the
calendar features precomputed as plain numeric columns, one candidate set at a time, so
that the sets are compared on the same code path relearn's time encoder feeds:

  none      no calendar information at all (the date dropped)
  category  the date as text, declared "categorical": what relearn did before time columns
            (one-hot + hashing)
  relearn   the date as ISO 8601 text, read by relearn as a time column (its own encoder:
            checks that it gives what the precomputed columns of the chosen set give)
  h         the time of day as a sine/cosine pair (timestamps only)
  w         the day of the week as a pair
  y         the day of the year as a pair
  e         days since the first row, clipped to the initial window's range
  and their combinations (h+w, h+w+y, ...)

  python3 bench/time_features.py OUT [--binary target/debug/relearn] [--seeds 0,1,2]
                                    [--work DIR] [--tables bikeshare,seattle_weather,mpls_stops]

Prints, per table and set, the mean prequential score over seeds (accuracy, or mse) and the
mean skill over the no-skill baseline.
"""
import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys

# name: (file, target, task, window, how to make the time column, columns it replaces)
TABLES = {
    "bikeshare": ("bikeshare.csv", "bikers", "regression", 500, "bikeshare",
                  ["season", "mnth", "day", "hr", "weekday"]),
    # The same without `workingday` (a weekday that is not a holiday): a table whose only
    # record of the day of the week is its date.
    "bikeshare_bare": ("bikeshare.csv", "bikers", "regression", 500, "bikeshare",
                       ["season", "mnth", "day", "hr", "weekday", "workingday"]),
    "seattle_weather": ("seattle_weather.csv", "weather", "classification", 100, "ymd",
                        ["year", "month", "day"]),
    "mpls_stops": ("mpls_stops.csv", "personSearch", "classification", 1000, "mpls",
                   ["month", "day", "weekday", "hour", "minute"]),
}

SETS = ["none", "category", "relearn", "h", "w", "y", "h+w", "h+y", "w+y", "h+w+y", "h+w+y+e"]
PART = {"h": "hour", "w": "weekday", "y": "yearday", "e": "elapsed"}


def read(path):
    import csv
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def moment(kind, row, col):
    """The row's time as a naive UTC datetime."""
    if kind == "bikeshare":  # 2011, `day` = day of the year, `hr` = hour
        return dt.datetime(2011, 1, 1) + dt.timedelta(days=int(row[col["day"]]) - 1,
                                                      hours=int(row[col["hr"]]))
    if kind == "ymd":
        return dt.datetime(int(row[col["year"]]), int(row[col["month"]]), int(row[col["day"]]))
    if kind == "mpls":  # 2017
        return dt.datetime(2017, int(row[col["month"]]), int(row[col["day"]]),
                           int(row[col["hour"]]), int(row[col["minute"]]))
    raise ValueError(kind)


def cycle(x):
    return [math.sin(2 * math.pi * x), math.cos(2 * math.pi * x)]


def calendar(t, first, clip, parts):
    out = []
    if "hour" in parts:
        out += cycle((t.hour * 3600 + t.minute * 60 + t.second) / 86400)
    if "weekday" in parts:
        out += cycle(t.weekday() / 7)
    if "yearday" in parts:
        days = 366 if (t.year % 4 == 0 and t.year % 100 != 0) or t.year % 400 == 0 else 365
        out += cycle((t.timetuple().tm_yday - 1) / days)
    if "elapsed" in parts:
        e = (t - first).total_seconds() / 86400
        out.append(min(max(e, clip[0]), clip[1]))
    return out


def variant(table, which, src, dst):
    file, target, task, window, kind, replaced = TABLES[table]
    header, rows = read(os.path.join(src, file))
    col = {c: i for i, c in enumerate(header)}
    times = [moment(kind, r, col) for r in rows]
    keep = [i for i, c in enumerate(header) if c not in replaced]
    has_clock = any(t.hour or t.minute for t in times)
    parts = [] if which in ("none", "category", "relearn") else [PART[p] for p in which.split("+")]
    if not has_clock and "hour" in parts:
        return None  # dates have no time of day
    names = {"hour": ["hour_sin", "hour_cos"], "weekday": ["weekday_sin", "weekday_cos"],
             "yearday": ["yearday_sin", "yearday_cos"], "elapsed": ["elapsed_days"]}
    extra = [n for p in parts for n in names[p]]
    if which in ("category", "relearn"):
        extra = ["when"]
    labelled = [t for t, r in zip(times, rows) if r[col[target]] != ""]
    first, initial = labelled[0], labelled[:window]
    clip = (0.0, (max(initial) - first).total_seconds() / 86400)
    import csv
    with open(dst, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow([header[i] for i in keep] + extra)
        for t, r in zip(times, rows):
            cells = [r[i] for i in keep]
            if which in ("category", "relearn"):
                fmt = "%Y-%m-%dT%H:%M:%S" if has_clock else "%Y-%m-%d"
                cells.append(t.strftime(fmt))
            else:
                cells += [f"{v:.6f}" for v in calendar(t, first, clip, parts)]
            w.writerow(cells)
    return window, target, task, which == "category"


def run(binary, work, table, which, seed, csv_path, window, target, task, categorical):
    name = f"{table}-{which}-{seed}"
    store = os.path.join(work, "store-" + name)
    shutil.rmtree(store, ignore_errors=True)
    cfg = os.path.join(work, name + ".toml")
    with open(cfg, "w") as f:
        f.write(f'[run]\nname = "t"\nseed = {seed}\n[data]\ncsv = "{csv_path}"\n'
                f'target = "{target}"\ntask = "{task}"\n[window]\nsize = {window}\n')
        if categorical:
            f.write('[data.columns]\nwhen = "categorical"\n')
    subprocess.run([binary, "run", "--config", cfg, "--store", store], check=True,
                   stdout=subprocess.DEVNULL)
    log = json.loads(subprocess.run([binary, "log", "--run", "t", "--json", "--store", store],
                                    check=True, capture_output=True, text=True).stdout)
    metric = "accuracy" if task == "classification" else "mse"
    scored = [m["metrics"]["prequential"] for m in log if m["metrics"].get("prequential")]
    score = sum(p[metric] for p in scored) / len(scored)
    skill = sum(p.get("skill", 0.0) for p in scored) / len(scored)
    return score, skill


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--binary", default="target/debug/relearn")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--work", default="/tmp/relearn-time-features")
    ap.add_argument("--tables", default=",".join(TABLES))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    binary = os.path.abspath(a.binary)
    seeds = [int(s) for s in a.seeds.split(",")]
    for table in a.tables.split(","):
        print(f"{table}:")
        for which in SETS:
            csv_path = os.path.join(a.work, f"{table}-{which}.csv")
            made = variant(table, which, a.out, csv_path)
            if made is None:
                continue
            results = [run(binary, a.work, table, which, s, csv_path, *made) for s in seeds]
            score = sum(r[0] for r in results) / len(results)
            skill = sum(r[1] for r in results) / len(results)
            per_seed = " ".join(f"{r[0]:.4f}" for r in results)
            print(f"  {which:<9} score {score:.4f}  skill {skill:+.3f}   (seeds: {per_seed})",
                  flush=True)


if __name__ == "__main__":
    sys.exit(main())
