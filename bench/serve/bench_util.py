#!/usr/bin/env python3
"""Helpers of serve.sh (standard library only), one subcommand each:

  freeport                              print a free TCP port on 127.0.0.1
  wait URL SECONDS [--pid PID]          until GET URL answers 200 (exit 1 on time-out or
                                        when PID has exited)
  bodies CSV OUT_DIR [--drop COL] [--rows N] [--skip N]
                                        write body-1.json (one row) and body-N.json (N rows)
                                        from a CSV: {"rows": [{feature: number, ...}]}
  rss PID                               JSON: summed VmHWM/VmRSS (KiB) of PID and its
                                        descendants, and of the descendants alone
  wrk-record WRK_OUT --server S --body B --rows N --rss-json FILE >> results.jsonl
                                        one result line from wrk's output (the JSON line
                                        post.lua's done() prints) and an `rss` answer
  promote-loop ...                      append one window of rows, `relearn run`, once a
                                        second while a PID (wrk) lives
  swap-check ...                        compare the prediction log's model ids with
                                        `relearn log --json`
  report RESULTS.jsonl OUT_DIR [--swap SWAP.json] [--meta META.json]
                                        write serve-bench.json and serve-bench.md, print
                                        the table
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request


# -- processes ---------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                text = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        fields = text[text.rindex(")") + 2 :].split()
        if int(fields[1]) == pid:
            out.append(int(stat.split("/")[2]))
    return out


def tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        p = todo.pop()
        pids.append(p)
        todo.extend(children(p))
    return pids


def status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_rss(a) -> int:
    pids = tree(a.pid)
    res = {
        "pids": pids,
        "hwm_kib": sum(status_kib(p, "VmHWM") for p in pids),
        "rss_kib": sum(status_kib(p, "VmRSS") for p in pids),
        "pss_kib": sum(pss_kib(p) for p in pids),
        "children_hwm_kib": sum(status_kib(p, "VmHWM") for p in pids[1:]),
    }
    print(json.dumps(res))
    return 0


def cmd_freeport(a) -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])
    return 0


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped) counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmd_wait(a) -> int:
    deadline = time.monotonic() + a.seconds
    last = ""
    while time.monotonic() < deadline:
        if a.pid and not alive(a.pid):
            print(f"wait: process {a.pid} exited before {a.url} answered ({last})", file=sys.stderr)
            return 1
        try:
            with urllib.request.urlopen(a.url, timeout=2) as r:
                if r.status == 200:
                    return 0
                last = f"status {r.status}"
        except urllib.error.HTTPError as e:
            last = f"status {e.code}"
        except (urllib.error.URLError, OSError) as e:
            last = str(e)
        time.sleep(0.2)
    print(f"wait: {a.url} did not answer 200 within {a.seconds:g} s ({last})", file=sys.stderr)
    return 1


# -- request bodies ----------------------------------------------------------------------


def number(text: str):
    try:
        return float(text) if ("." in text or "e" in text.lower()) else int(text)
    except ValueError:
        return text


def cmd_bodies(a) -> int:
    with open(a.csv, newline="") as f:
        reader = csv.DictReader(f)
        rows = []
        for i, r in enumerate(reader):
            if i < a.skip:
                continue
            rows.append({k: number(v) for k, v in r.items() if k not in a.drop})
            if len(rows) == a.rows:
                break
    if len(rows) < a.rows:
        print(f"bodies: {a.csv} has {len(rows)} rows after --skip {a.skip}, want {a.rows}", file=sys.stderr)
        return 1
    os.makedirs(a.out_dir, exist_ok=True)
    for n in (1, a.rows):
        with open(os.path.join(a.out_dir, f"body-{n}.json"), "w") as f:
            json.dump({"rows": rows[:n]}, f, separators=(",", ":"))
    return 0


# -- wrk ---------------------------------------------------------------------------------


def parse_wrk(text: str) -> dict:
    """post.lua's done() line, or wrk's own text when that is missing."""
    m = re.search(r"^WRK_JSON (\{.*\})$", text, re.M)
    if m:
        w = json.loads(m.group(1))
        secs = w["duration_us"] / 1e6
        return {
            "requests": w["requests"],
            "seconds": secs,
            "req_per_s": w["requests"] / secs if secs else 0.0,
            "p50_ms": w["p50_us"] / 1000,
            "p90_ms": w["p90_us"] / 1000,
            "p99_ms": w["p99_us"] / 1000,
            "max_ms": w["max_us"] / 1000,
            "non_2xx": w["status"],
            "socket_errors": {k: w[k] for k in ("connect", "read", "write", "timeout")},
        }

    def ms(s: str) -> float:
        v, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", s).groups()
        return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)$", text, re.M))
    req = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    secs = float(req.group(2)) * {"ms": 1e-3, "s": 1.0, "m": 60.0}.get(req.group(3), 1.0) if req else 0.0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    return {
        "requests": int(req.group(1)) if req else 0,
        "seconds": secs,
        "req_per_s": float(rps.group(1)) if rps else 0.0,
        "p50_ms": ms(pct["50"]) if "50" in pct else None,
        "p90_ms": ms(pct["90"]) if "90" in pct else None,
        "p99_ms": ms(pct["99"]) if "99" in pct else None,
        "max_ms": None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups())))
        if sock
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
    }


def cmd_wrk_record(a) -> int:
    with open(a.wrk_out) as f:
        r = parse_wrk(f.read())
    rec = {"server": a.server, "body": a.body, "rows_per_request": a.rows, **r}
    rec["rows_per_s"] = r["req_per_s"] * a.rows
    if a.rss_json:
        with open(a.rss_json) as f:
            rss = json.load(f)
        rec["peak_rss_mib"] = rss["hwm_kib"] / 1024
        rec["rss_detail"] = rss
    print(json.dumps(rec))
    print(
        f"   {a.server}, {a.body}: {rec['req_per_s']:,.0f} req/s, {rec['rows_per_s']:,.0f} rows/s, "
        f"p50 {rec['p50_ms']:.2f} ms, p99 {rec['p99_ms']:.2f} ms, non-2xx {rec['non_2xx']}, "
        f"socket errors {sum(rec['socket_errors'].values())}, peak RSS {rec.get('peak_rss_mib', 0):,.0f} MiB",
        file=sys.stderr,
    )
    return 0


# -- the swap phase ----------------------------------------------------------------------


def cmd_promote_loop(a) -> int:
    """Once a second while --while-pid lives: append --window rows of --source to --csv,
    then `RELEARN run --config ... --store ...`; a JSON line per round on stdout."""
    with open(a.source, newline="") as f:
        lines = f.read().splitlines()
    header, data = lines[0], lines[1:]
    pos = a.start
    t0 = time.monotonic()
    rounds = 0
    while rounds < a.max_rounds and (not a.while_pid or alive(a.while_pid)):
        chunk = data[pos : pos + a.window]
        if len(chunk) < a.window:
            print(json.dumps({"round": rounds, "error": "source exhausted"}), flush=True)
            break
        with open(a.csv, "a") as f:
            f.write("\n".join(chunk) + "\n")
        pos += a.window
        started = time.monotonic()
        p = subprocess.run(
            [a.relearn, "run", "--config", a.config, "--store", a.store],
            capture_output=True,
            text=True,
        )
        took = time.monotonic() - started
        print(
            json.dumps(
                {
                    "round": rounds,
                    "at_s": round(started - t0, 3),
                    "run_s": round(took, 3),
                    "rc": p.returncode,
                    "output": (p.stdout + p.stderr).strip()[-400:],
                }
            ),
            flush=True,
        )
        rounds += 1
        # the next round starts on the next whole second after t0
        delay = t0 + rounds * a.period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return 0


def cmd_swap_check(a) -> int:
    with open(a.log_json) as f:
        checkpoints = json.load(f)
    ids = [c["id"] for c in checkpoints]
    with open(a.promotions) as f:
        rounds = [json.loads(line) for line in f if line.strip()]
    wrk = parse_wrk(open(a.wrk_out).read())
    files = sorted(glob.glob(os.path.join(a.store, "predictions", a.run, "*.jsonl")))
    served: dict[str, int] = {}
    lines = bad_lines = 0
    for path in files:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except ValueError:
                    bad_lines += 1
                    continue
                if "model" not in record:  # a shadow record
                    continue
                # One record a request: its rows' predictions in order.
                rows = len(record.get("predictions", []))
                lines += rows
                model = record["model"]
                served[str(model)] = served.get(str(model), 0) + rows

    def known(m: str) -> bool:  # a full id, or an id prefix of 6+ hex digits
        return m in ids or (len(m) >= 6 and any(i.startswith(m) for i in ids))

    unknown = {m: n for m, n in served.items() if not known(m)}
    socket_errors = sum(wrk["socket_errors"].values())
    res = {
        "run": a.run,
        "wrk": wrk,
        "rounds": len(rounds),
        "runs_failed": sum(1 for r in rounds if r.get("rc") != 0),
        "checkpoints_before": a.checkpoints_before,
        "checkpoints_after": len(ids),
        "promoted": len(ids) - a.checkpoints_before,
        "prediction_log_files": len(files),
        "prediction_log_rows": lines,
        "prediction_log_bad_lines": bad_lines,
        "distinct_ids_served": len(served),
        "served": served,
        "unknown_ids": unknown,
    }
    problems = []
    if wrk["non_2xx"]:
        problems.append(f"{wrk['non_2xx']} non-2xx responses")
    if socket_errors:
        problems.append(f"{socket_errors} socket errors {wrk['socket_errors']}")
    if not files:
        problems.append(f"no prediction log under {os.path.join(a.store, 'predictions', a.run)}")
    elif lines == 0:
        problems.append("the prediction log is empty")
    if bad_lines:
        problems.append(f"{bad_lines} prediction log lines are not JSON")
    if unknown:
        problems.append(f"model ids not in `relearn log`: {sorted(unknown)[:5]}")
    if res["runs_failed"]:
        problems.append(f"{res['runs_failed']} of {len(rounds)} `relearn run` calls failed")
    if res["promoted"] < 1:
        problems.append("no checkpoint was promoted during the load")
    res["problems"] = problems
    res["ok"] = not problems
    with open(a.out, "w") as f:
        json.dump(res, f, indent=2)
    print(
        f"swap: {res['promoted']} checkpoints promoted in {len(rounds)} rounds; "
        f"{wrk['requests']} requests ({wrk['req_per_s']:.0f}/s), {wrk['non_2xx']} non-2xx, "
        f"{socket_errors} socket errors; {lines} logged predictions from "
        f"{len(served)} distinct checkpoints, {len(unknown)} unknown"
        + ("" if res["ok"] else "\nSWAP CHECK FAILED: " + "; ".join(problems))
    )
    return 0 if res["ok"] else 1


# -- the report --------------------------------------------------------------------------


def cmd_report(a) -> int:
    with open(a.results) as f:
        results = [json.loads(line) for line in f if line.strip()]
    swap = None
    if a.swap and os.path.exists(a.swap):
        with open(a.swap) as f:
            swap = json.load(f)
    meta = {}
    if a.meta and os.path.exists(a.meta):
        with open(a.meta) as f:
            meta = json.load(f)
    doc = {"meta": meta, "results": results, "swap": swap}
    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "serve-bench.json"), "w") as f:
        json.dump(doc, f, indent=2)

    def fmt(v, spec):
        return "—" if v is None else format(v, spec)

    md = [
        "| server | body | req/s | rows/s | p50 ms | p99 ms | errors | peak RSS MiB |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        errors = r["non_2xx"] + sum(r["socket_errors"].values())
        md.append(
            f"| {r['server']} | {r['body']} | {fmt(r['req_per_s'], ',.0f')} | {fmt(r['rows_per_s'], ',.0f')} "
            f"| {fmt(r['p50_ms'], '.2f')} | {fmt(r['p99_ms'], '.2f')} | {errors} "
            f"| {fmt(r.get('peak_rss_mib'), ',.0f')} |"
        )
    notes = []
    if meta.get("load"):
        notes.append(meta["load"])
    notes.append(
        "errors: non-2xx responses plus socket errors (connect, read, write, timeout). "
        "Peak RSS: VmHWM summed over the server's process tree (uvicorn: the supervisor "
        "and its workers; pages shared between processes count once per process), read "
        "after that row's load."
    )
    if swap:
        w = swap["wrk"]
        se = sum(w["socket_errors"].values())
        md += [
            "",
            f"**swap** ({meta.get('swap_desc', 'checkpoint promotion under load')}): "
            f"{swap['promoted']} checkpoints promoted in {swap['rounds']} rounds "
            f"({swap['runs_failed']} `relearn run` failures); "
            f"{w['requests']:,} requests, {w['req_per_s']:,.0f} req/s, p50 {fmt(w['p50_ms'], '.2f')} ms, "
            f"p99 {fmt(w['p99_ms'], '.2f')} ms; {w['non_2xx']} non-2xx, {se} socket errors; "
            f"{swap['prediction_log_rows']:,} logged predictions from {swap['distinct_ids_served']} "
            f"distinct checkpoints, {len(swap['unknown_ids'])} not in `relearn log`: "
            + ("**ok**" if swap["ok"] else "**FAILED**: " + "; ".join(swap["problems"])),
        ]
    md += [""] + [f"- {n}" for n in notes]
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out_dir, "serve-bench.md"), "w") as f:
        f.write(text)
    print(text, end="")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("freeport").set_defaults(fn=cmd_freeport)
    p = sub.add_parser("wait")
    p.add_argument("url")
    p.add_argument("seconds", type=float)
    p.add_argument("--pid", type=int)
    p.set_defaults(fn=cmd_wait)
    p = sub.add_parser("bodies")
    p.add_argument("csv")
    p.add_argument("out_dir")
    p.add_argument("--drop", action="append", default=[])
    p.add_argument("--rows", type=int, default=1000)
    p.add_argument("--skip", type=int, default=0)
    p.set_defaults(fn=cmd_bodies)
    p = sub.add_parser("rss")
    p.add_argument("pid", type=int)
    p.set_defaults(fn=cmd_rss)
    p = sub.add_parser("wrk-record")
    p.add_argument("wrk_out")
    p.add_argument("--server", required=True)
    p.add_argument("--body", required=True)
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--rss-json")
    p.set_defaults(fn=cmd_wrk_record)
    p = sub.add_parser("promote-loop")
    p.add_argument("--relearn", required=True)
    p.add_argument("--config", required=True)
    p.add_argument("--store", required=True)
    p.add_argument("--csv", required=True, help="the run's CSV, appended to")
    p.add_argument("--source", required=True, help="CSV whose rows are appended")
    p.add_argument("--start", type=int, required=True, help="first data row of --source to append")
    p.add_argument("--window", type=int, required=True)
    p.add_argument("--period", type=float, default=1.0)
    p.add_argument("--max-rounds", type=int, default=30)
    p.add_argument("--while-pid", type=int)
    p.set_defaults(fn=cmd_promote_loop)
    p = sub.add_parser("swap-check")
    p.add_argument("--store", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--log-json", required=True)
    p.add_argument("--promotions", required=True)
    p.add_argument("--wrk-out", required=True)
    p.add_argument("--checkpoints-before", type=int, required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_swap_check)
    p = sub.add_parser("report")
    p.add_argument("results")
    p.add_argument("out_dir")
    p.add_argument("--swap")
    p.add_argument("--meta")
    p.set_defaults(fn=cmd_report)
    a = ap.parse_args()
    return a.fn(a)


if __name__ == "__main__":
    sys.exit(main())
