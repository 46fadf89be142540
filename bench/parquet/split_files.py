#!/usr/bin/env python3
"""Rewrites a partitioned Parquet folder with each file split into N parts (same rows, same
order): part-0.parquet becomes part-00.parquet ... part-(N-1).parquet. The streaming
benchmark runs relearn on 60, 600 and 6,000 files of the same 10 million rows to show that
its speed and memory do not depend on how many files the rows come in.

    split_files.py SRC DST N
"""
import pathlib
import sys

import pyarrow.parquet as pq


def main() -> None:
    src, dst, parts = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
    for path in sorted(src.rglob("*.parquet")):
        table = pq.read_table(path)
        folder = dst / path.parent.relative_to(src)
        folder.mkdir(parents=True, exist_ok=True)
        size = -(-table.num_rows // parts)
        for i in range(parts):
            piece = table.slice(i * size, size)
            pq.write_table(piece, folder / f"part-{i:02d}.parquet", row_group_size=100_000)


if __name__ == "__main__":
    main()
