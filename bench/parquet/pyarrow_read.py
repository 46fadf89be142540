#!/usr/bin/env python3
"""How fast pyarrow reads a Parquet folder, one file and one row group at a time, on one
thread: the figure relearn's Parquet reader is compared with.

    pyarrow_read.py FOLDER [--mode arrow|numpy|batches|all]

Reads every `*.parquet` under FOLDER (sorted by path) with `pq.ParquetFile`, one row group
at a time (`read_row_group`), with `pa.set_cpu_count(1)`, `pa.set_io_thread_count(1)` and
`use_threads=False`:

    arrow    materialise each row group as Arrow arrays (nothing more)
    numpy    the same, then every column to numpy (`to_numpy(zero_copy_only=False)`:
             strings become object arrays, nulls NaN or None)
    batches  `iter_batches(batch_size=65536)` instead of `read_row_group`, as Arrow arrays
    all      each of the three in its own process (default), so each has its own peak RSS

Prints rows/s and the peak resident memory (`resource.getrusage`, ru_maxrss) of each.
"""

import argparse
import glob
import os
import resource
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq


def files_of(folder):
    return sorted(glob.glob(os.path.join(folder, "**", "*.parquet"), recursive=True))


def read(folder, mode):
    """Reads the folder in `mode`; (rows, seconds)."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    rows = 0
    start = time.perf_counter()
    for path in files_of(folder):
        f = pq.ParquetFile(path)
        if mode == "batches":
            for batch in f.iter_batches(batch_size=65536, use_threads=False):
                rows += batch.num_rows
            continue
        for i in range(f.num_row_groups):
            table = f.read_row_group(i, use_threads=False)
            if mode == "numpy":
                for column in table.columns:
                    column.to_numpy(zero_copy_only=False)
            rows += table.num_rows
    return rows, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--mode", choices=["arrow", "numpy", "batches", "all"], default="all")
    args = parser.parse_args()
    if not files_of(args.folder):
        sys.exit(f"{args.folder}: no *.parquet files")
    if args.mode == "all":
        for mode in ["arrow", "numpy", "batches"]:
            subprocess.run([sys.executable, __file__, args.folder, "--mode", mode], check=True)
        return
    rows, seconds = read(args.folder, args.mode)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(
        f"pyarrow {pa.__version__} {args.mode:8s}: {rows} rows in {seconds:.2f} s, "
        f"{rows / seconds:,.0f} rows/s, peak RSS {peak_mib:.0f} MiB"
    )


if __name__ == "__main__":
    main()
