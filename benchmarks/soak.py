"""Soak: the live worker under a steady offered load for N minutes, SIGKILLed periodically.

    python benchmarks/soak.py [--minutes 10] [--rate 500] [--restart-every 60] [--poison 0.002]

A private redis-server is started; this process offers `--rate` events/s to the user-partitioned
streams (synthetic users on their PCs, with a fraction `--poison` of entries that are not valid
events: a year-10000 time or broken JSON) and runs the worker (`streaming.runtime.Runtime` over a
`RedisSource`, with scores, alerts and dead-letter files) as a child process that it SIGKILLs
every `--restart-every` seconds and starts again at once, like a supervisor would. The worker is
a real engine with the paper's word-hour tokenizer and a bigram scorer (seeded, not trained: the
point is the plumbing, not the detection).

Every 10 s it prints the worker's RSS, the events offered and those accounted for. At the end it
stops offering, lets the last worker drain, and checks:
  * events in = events scored (one record each, no duplicate) + dead-lettered (the poison);
  * the alerts file holds each alert exactly once and equals the alert database.
Exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from _machine import machine  # noqa: E402  (benchmarks/ sibling)

PREFIX = "soak:events"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis(root: Path) -> tuple[subprocess.Popen, str]:
    import redis

    exe = shutil.which("redis-server")
    if exe is None:
        sys.exit("soak needs redis-server on PATH (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            redis.Redis.from_url(url).ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.05)
    sys.exit("redis-server did not start")


# -- the worker (child process) -------------------------------------------------------------
def worker(url: str, state: Path, partitions: int, seed: int, max_sessions: int) -> None:
    import torch

    from neighborwatch.sequences.tokenize import WordHourTokenizer
    from neighborwatch.streaming.alerts import Thresholds
    from neighborwatch.streaming.engine import Engine, EngineConfig
    from neighborwatch.streaming.runtime import Runtime
    from neighborwatch.streaming.scorer import BigramScorer
    from neighborwatch.streaming.sinks import JsonlSink
    from neighborwatch.streaming.sources import RedisSource

    torch.set_num_threads(1)
    tok = WordHourTokenizer()
    counts = np.random.default_rng(seed).gamma(0.3, 1.0, (tok.vocab_size, tok.vocab_size)) * 50
    engine = Engine(
        BigramScorer(tok.vocab_size, counts),
        tok.transform,
        tok.decode,
        Thresholds(activity=0.999, risk=120.0, half_life_s=3600.0),
        EngineConfig(window_s=0.0, max_hold_s=0.2, max_open_sessions=max_sessions),
    )
    rt = Runtime(
        engine,
        RedisSource(url, PREFIX, partitions, consumer="soak-0"),
        [JsonlSink(state / "scores.jsonl", "scores"), JsonlSink(state / "alerts.jsonl", "alerts")],
        state,
        snapshot_every_s=1.0,
        poll_block_s=0.05,
    )
    rt.restore()
    signal.signal(signal.SIGTERM, lambda *_: rt._stop.set())
    rt.run()  # until SIGTERM (graceful: final snapshot) or SIGKILL (the crash being tested)
    rt.drain()
    rt.snapshot()


# -- the load (this process) ----------------------------------------------------------------
class Producer(threading.Thread):
    """Offers `rate` entries/s: users on their PCs (Logon, activity, Logoff), some poison."""

    def __init__(self, url: str, partitions: int, rate: float, poison: float, users: int, seed: int) -> None:
        super().__init__(daemon=True)
        from neighborwatch.streaming.sources import RedisPublisher, partition_of

        self.pub, self.partition_of = RedisPublisher(url, PREFIX, partitions), partition_of
        self.partitions, self.rate, self.poison, self.users = partitions, rate, poison, users
        self.rng = np.random.default_rng(seed)
        self.sent = self.bad = 0
        self.stop = threading.Event()
        self.t0 = 1_262_332_800  # 2010-01-01, event time advances 1 s per event

    def batch(self, n: int) -> tuple[list[dict], list[tuple[str, bytes]]]:
        kinds = [
            ("logon", "Logon"),
            ("http", "WWW Visit"),
            ("email", "Send"),
            ("file", "File Open"),
            ("device", "Connect"),
            ("device", "Disconnect"),
            ("http", "WWW Visit"),
            ("logon", "Logoff"),
        ]
        good, raw = [], []
        for _ in range(n):
            i = self.sent + self.bad
            u = int(self.rng.integers(self.users))
            src, act = kinds[int(self.rng.integers(len(kinds)))]
            ev = {
                "event_id": f"S{i:09d}",
                "time": self.t0 + i,
                "user": f"U{u:05d}",
                "host": f"PC-{u:05d}",
                "source": src,
                "action": act,
            }
            if self.rng.random() < self.poison:
                bad = dict(ev, time=253402300800) if self.rng.random() < 0.5 else None
                body = json.dumps(bad).encode() if bad else b'{"event_id": "' + ev["event_id"].encode()
                s = f"{PREFIX}:{self.partition_of(ev['user'], self.partitions)}"
                raw.append((s, body))
                self.bad += 1
            else:
                good.append(ev)
                self.sent += 1
        return good, raw

    def run(self) -> None:
        start, step = time.monotonic(), 0.1
        while not self.stop.is_set():
            due = int((time.monotonic() - start) * self.rate) - (self.sent + self.bad)
            if due > 0:
                good, raw = self.batch(due)
                self.pub.publish(good)
                for s, body in raw:
                    self.pub.r.xadd(s, {"event": body})
            self.stop.wait(step)


def rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return next(int(x.split()[1]) for x in fh if x.startswith("VmRSS")) / 1024
    except (OSError, StopIteration):
        return float("nan")


def lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open("rb") as fh:
        return [json.loads(x) for x in fh if x.strip()]


def spawn(args, url: str, state: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        "--url",
        url,
        "--state",
        str(state),
        "--partitions",
        str(args.partitions),
        "--seed",
        str(args.seed),
        "--max-sessions",
        str(args.max_sessions),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", NEIGHBORWATCH_PROGRESS="0")
    log = open(state / "worker.log", "ab")
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=500.0, help="events offered per second")
    ap.add_argument("--restart-every", type=float, default=60.0, help="seconds between SIGKILLs of the worker")
    ap.add_argument("--poison", type=float, default=0.002, help="fraction of entries that are not valid events")
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--partitions", type=int, default=2)
    ap.add_argument("--max-sessions", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", type=Path, default=None, help="keep the state folder here")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--state", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.url, args.state, args.partitions, args.seed, args.max_sessions)
        return 0

    print(machine())
    root = Path(tempfile.mkdtemp(prefix="nw-soak-"))
    state = args.keep or root / "state"
    state.mkdir(parents=True, exist_ok=True)
    redis_proc, url = start_redis(root)
    producer = Producer(url, args.partitions, args.rate, args.poison, args.users, args.seed)
    proc = spawn(args, url, state)
    producer.start()
    t0 = last_kill = last_print = time.monotonic()
    kills, rss = 0, []
    print(f"offering {args.rate:.0f} ev/s for {args.minutes} min, SIGKILL every {args.restart_every:.0f} s")
    print(f"{'t s':>6} {'worker RSS MB':>13} {'offered':>9} {'recorded':>9} {'kills':>5}")
    try:
        while time.monotonic() - t0 < args.minutes * 60:
            time.sleep(0.5)
            now = time.monotonic()
            if proc.poll() is not None:
                print(f"worker exited by itself (status {proc.returncode}); restarting")
                proc = spawn(args, url, state)
            if now - last_print >= 10:
                rss.append(rss_mb(proc.pid))
                done = sum(1 for _ in (state / "scores.jsonl").open("rb")) if (state / "scores.jsonl").exists() else 0
                print(
                    f"{now - t0:6.0f} {rss[-1]:13.1f} {producer.sent + producer.bad:9d} {done:9d} {kills:5d}",
                    flush=True,
                )
                last_print = now
            if now - last_kill >= args.restart_every:
                proc.send_signal(signal.SIGKILL)
                proc.wait(10)
                kills += 1
                proc = spawn(args, url, state)
                last_kill = now
        producer.stop.set()
        producer.join(10)
        offered = producer.sent + producer.bad
        end = time.monotonic() + 120
        while time.monotonic() < end:  # drain: every offered entry recorded or dead-lettered
            recs = lines(state / "scores.jsonl")
            if sum(r["event_id"] is not None for r in recs) >= producer.sent and len(recs) >= offered:
                break
            time.sleep(1)
        time.sleep(2)  # a duplicate would show up now
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        producer.stop.set()
        if proc.poll() is None:
            proc.kill()
        redis_proc.terminate()
        redis_proc.wait(10)

    from neighborwatch.streaming.alerts import AlertStore

    recs, dead, alerts = (
        lines(state / "scores.jsonl"),
        lines(state / "dead-letter.jsonl"),
        lines(state / "alerts.jsonl"),
    )
    ids = [r["event_id"] for r in recs if r["event_id"] is not None]
    scored = sum(r["status"] not in ("rejected", "failed") for r in recs)
    total, in_db = AlertStore(state / "alerts.sqlite").query(limit=10**7)
    alert_ids = [a["alert_id"] for a in alerts]
    checks = {
        "events in = scored + dead-lettered": offered == scored + len(dead),
        "no event recorded twice": len(ids) == len(set(ids)) == producer.sent,
        "alerts file: each alert once": len(alert_ids) == len(set(alert_ids)),
        "alerts file = alert database": set(alert_ids) == {a["alert_id"] for a in in_db} and total == len(alerts),
    }
    finite = [x for x in rss if x == x]
    print(
        f"\nevents offered {offered:,} (poison {producer.bad:,}); scored {scored:,}; dead-lettered {len(dead):,}; "
        f"alerts {len(alerts):,} in file, {total:,} in database; SIGKILLs {kills}"
    )
    if finite:
        print(f"worker RSS MB: first {finite[0]:.1f}, max {max(finite):.1f}, last {finite[-1]:.1f}")
    for name, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {name}")
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
