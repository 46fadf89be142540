#!/usr/bin/env python3
"""A drifting event stream as a partitioned Parquet folder and the same rows as CSV.

    make_stream.py [--rows N] [--days D] [--row-group-rows R] [--seed S] OUT

writes, under OUT:

    events/date=YYYY-MM-DD/part-0.parquet      one file per day (pyarrow, snappy)
    events_csv/date=YYYY-MM-DD/part-0.csv      the same rows (pyarrow.csv.write_csv)
    events.toml, events_csv.toml               relearn configs for each folder

N rows (default 10,000,000) over D days (default 60) from 2026-01-01, at irregular daily
rates (a weekly cycle, a slow trend and day-to-day noise). Columns:

    ts        timestamp[us, UTC], increasing through the stream
    x1..x6    float64 whose relations drift over the days
    cat       string, about 20 values, dictionary-encoded; new values appear over time
    amount    float64, 2% nulls
    y         "yes" / "no", from a rule that drifts

Each day is generated and written on its own, so memory stays at one day's rows. Row
groups hold R rows (default 100,000, so a day's file has one to a few; pyarrow's own
default is 1Mi rows). Needs pyarrow and numpy (bench/parquet/run.sh installs them).
"""

import argparse
import datetime as dt
import os
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

START = dt.date(2026, 1, 1)
US_PER_DAY = 86_400_000_000
# Category values: 12 from the start, then one more every few days.
N_CATS = 20
FIRST_CATS = 12


def daily_counts(rows, days, rng):
    """Rows per day: a weekly cycle (quieter weekends), a slow trend and noise, summing to
    `rows`."""
    day = np.arange(days)
    weekly = np.where(((START.weekday() + day) % 7) >= 5, 0.55, 1.0)
    trend = 1.0 + 0.6 * day / max(days - 1, 1)
    noise = rng.lognormal(0.0, 0.25, days)
    weights = weekly * trend * noise
    return rng.multinomial(rows, weights / weights.sum())


def category_weights(day, days):
    """Probabilities of the category values on `day`: the first FIRST_CATS always, the others
    from the day they appear, Zipf-like, with the newest ones gaining weight as they age."""
    appear = np.zeros(N_CATS)
    span = max(days - 5, 1)
    appear[FIRST_CATS:] = np.linspace(5, span, N_CATS - FIRST_CATS)
    age = day - appear
    w = 1.0 / np.arange(1, N_CATS + 1) ** 0.8
    w = np.where(age >= 0, w * np.minimum(1.0, 0.2 + age / 10.0), 0.0)
    return w / w.sum()


def day_table(day, days, n, rng):
    """One day's rows as an Arrow table."""
    t = day / max(days - 1, 1)  # 0 .. 1 through the stream
    start_us = (START - dt.date(1970, 1, 1)).days * US_PER_DAY + day * US_PER_DAY
    # Strictly increasing timestamps within the day: sorted draws, the i-th moved i us on.
    offsets = np.sort(rng.integers(0, US_PER_DAY - n, n)) + np.arange(n)
    ts = start_us + offsets
    x1 = rng.normal(0.0, 1.0, n)
    x2 = (0.8 - 1.6 * t) * x1 + rng.normal(0.0, 0.6, n)  # the x1-x2 slope flips sign
    x3 = np.sin((1.0 + 2.0 * t) * x1) + rng.normal(0.0, 0.3, n)
    x4 = rng.normal(2.0 * t, 1.0 + t, n)  # the mean and spread move
    x5 = 0.3 * x2 * x4 + rng.normal(0.0, 1.0, n)
    x6 = rng.uniform(-1.0, 1.0, n) + 0.5 * np.sin(2 * np.pi * offsets / US_PER_DAY)
    cat_codes = rng.choice(N_CATS, size=n, p=category_weights(day, days))
    amount = rng.lognormal(3.0 + 0.5 * t, 1.0, n)
    amount_null = rng.random(n) < 0.02
    # The rule: the weights rotate from x1 to x3 over the stream, and the categories' effects
    # change sign halfway through.
    cat_effect = np.linspace(-1.0, 1.0, N_CATS) * (1.0 if t < 0.5 else -1.0)
    logit = (
        np.cos(np.pi / 2 * t) * 2.0 * x1
        + np.sin(np.pi / 2 * t) * 2.0 * x3
        + 0.5 * x5
        - 0.4 * x4
        + cat_effect[cat_codes]
        + 0.3 * (np.log(amount) - 3.0)
    )
    y = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    names = pa.array([f"c{i:02d}" for i in range(N_CATS)], pa.string())
    return pa.table(
        {
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "x1": x1,
            "x2": x2,
            "x3": x3,
            "x4": x4,
            "x5": x5,
            "x6": x6,
            "cat": pa.DictionaryArray.from_arrays(pa.array(cat_codes, pa.int32()), names),
            "amount": pa.array(amount, pa.float64(), mask=amount_null),
            "y": pa.array(np.where(y, "yes", "no"), pa.string()),
        }
    )


def config(name, folder):
    """A relearn config for the folder `folder` (relative to the config's own folder)."""
    return f"""# {folder}/: the drifting event stream of bench/parquet/make_stream.py, one window a day.
[run]
name = "{name}"

[data]
path = "{folder}"
target = "y"
time = "ts"

[window]
every = "1d"
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="output folder")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--row-group-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    counts = daily_counts(args.rows, args.days, rng)
    began = time.perf_counter()
    parquet_s = csv_s = 0.0
    parquet_bytes = csv_bytes = 0
    for day, n in enumerate(counts):
        date = (START + dt.timedelta(days=int(day))).isoformat()
        table = day_table(day, args.days, int(n), rng)
        pdir = os.path.join(args.out, "events", f"date={date}")
        cdir = os.path.join(args.out, "events_csv", f"date={date}")
        os.makedirs(pdir, exist_ok=True)
        os.makedirs(cdir, exist_ok=True)
        ppath, cpath = os.path.join(pdir, "part-0.parquet"), os.path.join(cdir, "part-0.csv")
        t0 = time.perf_counter()
        pq.write_table(table, ppath, row_group_size=args.row_group_rows, compression="snappy")
        t1 = time.perf_counter()
        # The CSV writer takes the categories as plain strings.
        plain = table.set_column(7, "cat", table.column("cat").cast(pa.string()))
        pacsv.write_csv(plain, cpath)
        t2 = time.perf_counter()
        parquet_s += t1 - t0
        csv_s += t2 - t1
        parquet_bytes += os.path.getsize(ppath)
        csv_bytes += os.path.getsize(cpath)
    for name, folder in [("events-parquet", "events"), ("events-csv", "events_csv")]:
        with open(os.path.join(args.out, f"{folder}.toml"), "w") as f:
            f.write(config(name, folder))
    total = time.perf_counter() - began
    print(
        f"{args.rows} rows over {args.days} days ({counts.min()} to {counts.max()} a day) in "
        f"{total:.1f} s: Parquet {parquet_bytes / 1e6:.1f} MB written in {parquet_s:.1f} s, "
        f"CSV {csv_bytes / 1e6:.1f} MB in {csv_s:.1f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
