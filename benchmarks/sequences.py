"""Time and peak memory of `build_sequences` (tokenize, sessions, user-days, collapse, splits, save).

    python benchmarks/sequences.py --events 3000000 [--users 1000] [--dir /tmp/nw-seq-bench] [--seed 0]

Writes a fake WORK/events.parquet (r4.2-like mix: per user a few PCs, logon/logoff pairs around
office-hour bursts of http/email/file/device events, sorted by time) with EVENTS rows, then runs
`build_sequences` in a fresh child process, so that the peak RSS printed (the child's VmHWM) is
that of sequence building alone. Run at EVENTS and EVENTS/4 to see how memory grows.
The rows are random here; no real CERT rows are used.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

from _machine import machine  # noqa: E402  (benchmarks/ sibling)

SOURCES_CODES = np.array([0, 0, 0, 0, 1, 1, 2, 3], dtype=np.int8)  # r4.2-like mix: mostly web


def write_events(path: Path, n: int, users: int, seed: int) -> None:
    """~n events: sessions of ~40 events, each framed by a Logon and (mostly) a Logoff."""
    rng = np.random.default_rng(seed)
    per = 40
    n_sess = max(1, n // per)
    user = rng.integers(0, users, n_sess)
    host = user * 3 + rng.integers(0, 3, n_sess) * (rng.random(n_sess) < 0.1)
    day = rng.integers(0, 500, n_sess)
    start = (
        np.datetime64("2010-01-02T00:00", "us").astype(np.int64)
        + day * 86_400_000_000
        + rng.integers(7 * 3600, 10 * 3600, n_sess) * 1_000_000
    )
    length = rng.integers(2, 2 * per - 2, n_sess)
    sess = np.repeat(np.arange(n_sess), length)
    pos = np.arange(len(sess)) - np.repeat(np.cumsum(length) - length, length)
    gaps = np.cumsum(rng.integers(10, 600, len(sess)) * 1_000_000)
    first_idx = np.cumsum(length) - length
    t = start[sess] + gaps - np.repeat(gaps[first_idx], length)  # increasing within a session
    del gaps
    # codes: 0 http, 1 email, 2 file, 3 device Connect, 4 logon Logon, 5 logon Logoff
    code = SOURCES_CODES[rng.integers(0, len(SOURCES_CODES), len(sess))]
    first = pos == 0
    last_closed = (pos == length[sess] - 1) & (rng.random(len(sess)) < 0.9)
    code[first] = 4
    code[last_closed] = 5
    del first, last_closed, pos
    codes = pl.Series(code)
    df = pl.DataFrame(
        {
            "time": pl.Series(t).cast(pl.Datetime("us")),
            "user": ("U" + pl.Series(user[sess]).cast(pl.Utf8).str.zfill(6)),
            "host": ("PC-" + pl.Series(host[sess]).cast(pl.Utf8).str.zfill(4)),
            "source": codes.replace_strict(
                dict(enumerate(["http", "email", "file", "device", "logon", "logon"])), return_dtype=pl.Utf8
            ),
            "action": codes.replace_strict(
                dict(enumerate(["WWW Visit", "Send", "File Open", "Connect", "Logon", "Logoff"])), return_dtype=pl.Utf8
            ),
        }
    ).sort("time")
    df = df.with_columns(pl.format("{{{}}}", pl.int_range(0, pl.len()).cast(pl.Utf8).str.zfill(12)).alias("event_id"))
    from neighborwatch.data.schema import conform_events

    path.parent.mkdir(parents=True, exist_ok=True)
    conform_events(df).write_parquet(path, row_group_size=1_000_000)
    (path.parent / "summary.json").write_text('{"format": "cert", "release": "r4"}\n')


def child(work: str) -> None:
    from neighborwatch.sequences.build import build_sequences

    t0 = time.perf_counter()
    config = build_sequences(work)
    dt = time.perf_counter() - t0
    hwm = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM"))
    c = config["counts"]
    print(
        f"events={config['events']:,} sessions={c['session']['sequences']:,} days={c['day']['sequences']:,} "
        f"activities_after_collapse={c['session']['activities']:,} seconds={dt:.1f} "
        f"events_per_s={config['events'] / dt:,.0f} peak_rss_MiB={int(hwm.split()[1]) / 1024:,.0f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=3_000_000)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/nw-seq-bench"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--child", type=str, default=None)
    a = ap.parse_args()
    if a.child:
        return child(a.child)
    print(f"machine: {machine()}, polars {pl.__version__}")
    env = dict(os.environ, NEIGHBORWATCH_PROGRESS="0")
    for n in (a.events // 4, a.events):
        work = a.dir / f"work-{n}"
        t0 = time.perf_counter()
        write_events(work / "events.parquet", n, a.users, a.seed)
        print(f"generated {n:,} events in {time.perf_counter() - t0:.1f}s")
        subprocess.run([sys.executable, __file__, "--child", str(work)], check=True, env=env)


if __name__ == "__main__":
    main()
