"""`neighborwatch replay WORK --to URL|redis://...`: a prepared period replayed as a live stream.

Events are sent in (time, event_id) order — the order of events.parquet — either to a running
service's `POST /events` (bearer token; a 429 is honoured by waiting and resending the same batch)
or straight into the service's user-partitioned Redis streams. `speed` N plays N seconds of log
time per wall second (0 = as fast as the receiver takes them).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.errors import UserError
from neighborwatch.progress import progress
from neighborwatch.workdir import WorkDir

SPLITS = ("test", "validation", "train", "all")


def period_events(work: str | Path, split: str = "test", limit: int | None = None) -> pl.DataFrame:
    """The events of one period (by the WORK's split dates), in events.parquet order."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    w = WorkDir(work).require()
    lf = pl.scan_parquet(w.events)
    if split != "all":
        from neighborwatch.sequences.build import load_split_dates

        dates = load_split_dates(w)
        t = pl.col("time")
        cond = {
            "test": t >= dates.test_start,
            "validation": (t >= dates.val_start) & (t < dates.test_start),
            "train": t < dates.val_start,
        }[split]
        lf = lf.filter(cond)
    if limit:
        lf = lf.head(limit)
    return lf.collect()


def to_dicts(df: pl.DataFrame) -> Iterator[dict[str, Any]]:
    for r in df.iter_rows(named=True):
        d = {k: v for k, v in r.items() if v is not None}
        d["time"] = r["time"].isoformat()
        yield d


def check_reachable(to: str, token: str | None = None) -> None:
    """Fail fast, in one line, when `--to` is not a running service (before reading any data)."""
    if to.startswith(("redis://", "rediss://", "unix://")):
        import redis

        try:
            redis.Redis.from_url(to, socket_connect_timeout=3).ping()
        except redis.exceptions.RedisError as e:
            raise UserError(f"cannot reach Redis at {to}: {e}", "start redis-server or fix --to") from e
        return
    if not to.startswith(("http://", "https://")):
        raise UserError(
            f"--to must be an http(s):// service URL or a redis:// URL, got {to!r}", "e.g. --to http://127.0.0.1:8750"
        )
    import httpx

    try:
        r = httpx.get(
            to.rstrip("/") + "/thresholds", timeout=5.0, headers={"Authorization": f"Bearer {token}"} if token else {}
        )
    except httpx.HTTPError as e:
        raise UserError(
            f"cannot reach a service at {to}: {e}", "start `neighborwatch serve MODEL --work WORK` or fix --to"
        ) from e
    if r.status_code == 401:
        raise UserError(f"{to} refused the token", "pass the service's --token (or NEIGHBORWATCH_TOKEN)")


class _HttpTarget:
    def __init__(self, url: str, token: str | None) -> None:
        import httpx

        self.url = url.rstrip("/") + "/events"
        self.client = httpx.Client(timeout=30.0, headers={"Authorization": f"Bearer {token}"} if token else {})
        self.retries = 0

    def send(self, batch: list[dict[str, Any]]) -> None:
        while True:
            r = self.client.post(self.url, json={"events": batch})
            if r.status_code == 429:
                self.retries += 1
                time.sleep(float(r.headers.get("retry-after", "0.5")) / 4)
                continue
            if r.status_code >= 400:
                raise RuntimeError(f"{self.url} answered {r.status_code}: {r.text[:500]}")
            return

    def close(self) -> None:
        self.client.close()


class _RedisTarget:
    def __init__(self, url: str, prefix: str, partitions: int) -> None:
        from neighborwatch.streaming.sources import RedisPublisher

        self.pub = RedisPublisher(url, prefix=prefix, partitions=partitions)
        self.retries = 0

    def send(self, batch: list[dict[str, Any]]) -> None:
        self.pub.publish(batch)

    def close(self) -> None:
        self.pub.close()


def replay(
    work: str | Path,
    to: str,
    speed: float = 0.0,
    split: str = "test",
    token: str | None = None,
    batch: int = 500,
    prefix: str | None = None,
    partitions: int = 1,
    limit: int | None = None,
) -> dict[str, Any]:
    """Send the period's events; returns counts and the wall time taken."""
    from neighborwatch.streaming.sources import DEFAULT_PREFIX

    if speed < 0:
        raise ValueError("speed must be >= 0")
    df = period_events(work, split, limit)
    if to.startswith(("redis://", "rediss://", "unix://")):
        target: Any = _RedisTarget(to, prefix or DEFAULT_PREFIX, partitions)
    elif to.startswith(("http://", "https://")):
        target = _HttpTarget(to, token)
    else:
        raise ValueError(f"--to must be an http(s):// service URL or a redis:// URL, got {to!r}")
    times: np.ndarray | list[int] = df["time"].cast(pl.Int64).to_numpy() if df.height else []
    t0_log = int(times[0]) if df.height else 0
    t0 = time.monotonic()
    sent = 0
    pending: list[dict[str, Any]] = []
    try:
        with progress() as p:
            task = p.add_task(f"replay {split} → {to.split('@')[-1]}", total=df.height)
            for i, ev in enumerate(to_dicts(df)):
                if speed > 0:
                    due = (int(times[i]) - t0_log) / 1e6 / speed
                    wait = due - (time.monotonic() - t0)
                    if wait > 0:
                        if pending:  # send what is due before sleeping
                            target.send(pending)
                            sent += len(pending)
                            p.advance(task, len(pending))
                            pending = []
                        time.sleep(wait)
                pending.append(ev)
                if len(pending) >= batch:
                    target.send(pending)
                    sent += len(pending)
                    p.advance(task, len(pending))
                    pending = []
            if pending:
                target.send(pending)
                sent += len(pending)
                p.advance(task, len(pending))
    finally:
        target.close()
    return {
        "events": sent,
        "seconds": round(time.monotonic() - t0, 3),
        "retries_429": target.retries,
        "split": split,
        "to": to,
    }
