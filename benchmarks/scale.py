"""Throughput of the Ray engines on this machine: prepare's reading + sorting and its sequences
stage, batch scoring per actor, and live workers (Ray actors over Redis partitions), local engine
alongside.

    python benchmarks/scale.py [--users 40] [--days 90] [--workers 1,2] [--skip-live] [--chunk-mb 64]
    python benchmarks/scale.py --src SRC [--workers 2] [--chunk-mb 64]   # prepare's reading only

With --src, only prepare's reading (read, canonicalise, quarantine, sort into events.parquet) is
timed on that CERT folder, local engine vs Ray engine (cold workers, then warm), and the two
events.parquet files are compared byte for byte.

Generates a synthetic r4.2 organisation, prepares it (ingest timed apart from the sequences
stage, which runs local and on Ray), trains LAN's fast preset, then scores the test period with
the local engine and with 1..N Ray actors, and finally replays the test period into Redis
(2 partitions, published before the workers start) and times 1..N live workers until every
event is scored. Prints one line per measurement; docs/scale.md quotes them.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from _machine import machine

os.environ.setdefault("NEIGHBORWATCH_PROGRESS", "0")
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _redis() -> tuple[str, subprocess.Popen]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return f"redis://127.0.0.1:{port}/0", proc


def _init_ray(ray, cpus: int) -> None:
    env = {k: os.environ[k] for k in ("PYTHONPATH", "NEIGHBORWATCH_PROGRESS", "OMP_NUM_THREADS") if k in os.environ}
    ray.init(
        num_cpus=cpus,
        include_dashboard=False,
        address="local",
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
        runtime_env={"env_vars": env},
    )


def compare_reading(ray, src: Path, root: Path, chunk_mb: float) -> None:
    """prepare's reading (ingest: read, canonicalise, quarantine, sort) local vs on Ray."""
    from neighborwatch.data.pieces import LogFile
    from neighborwatch.data.prepare import ingest
    from neighborwatch.scale.prepare import ray_reader

    reader = ray_reader(ray, chunk_mb)
    logs = [p for p in sorted(src.glob("*.csv")) if p.stem in ("logon", "device", "file", "email", "http")]
    pieces = sum(len(p) for p in reader.pieces([LogFile(p, p.name) for p in logs]))
    size = sum(p.stat().st_size for p in logs)
    t = time.perf_counter()
    n = ingest(src, root / "read-local")["events"]
    local = time.perf_counter() - t
    print(f"reading, local engine: {n:,} events ({size / 2**20:,.1f} MiB) in {local:.2f} s = {n / local:,.0f} events/s")
    for run in ("cold", "warm"):
        t = time.perf_counter()
        ingest(src, root / "read-ray", reader=reader)
        secs = time.perf_counter() - t
        same = (root / "read-local" / "events.parquet").read_bytes() == (
            root / "read-ray" / "events.parquet"
        ).read_bytes()
        print(
            f"reading, ray engine ({pieces} pieces of <= {chunk_mb:g} MiB, {run} workers): {secs:.2f} s "
            f"= {n / secs:,.0f} events/s; events.parquet identical to local: {same}"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=40)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--skip-live", action="store_true")
    ap.add_argument("--chunk-mb", type=float, default=64.0, help="MiB per reading task of the Ray engine")
    ap.add_argument("--src", type=Path, help="time prepare's reading of this CERT folder only")
    args = ap.parse_args()
    workers = [int(w) for w in args.workers.split(",")]
    from datetime import date, timedelta

    import ray
    import torch

    if args.src is not None:
        print("machine:", machine())
        root = Path(tempfile.mkdtemp(prefix="nw-scale-"))
        _init_ray(ray, max(workers))
        compare_reading(ray, args.src, root, args.chunk_mb)
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)
        return

    torch.set_num_threads(1)
    from neighborwatch.data.prepare import ingest
    from neighborwatch.data.synth import synthesize
    from neighborwatch.scale.prepare import ray_stage
    from neighborwatch.scale.score import score_work
    from neighborwatch.sequences.build import build_sequences

    root = Path(tempfile.mkdtemp(prefix="nw-scale-"))
    print("machine:", machine())
    end = (date(2010, 1, 2) + timedelta(days=args.days)).isoformat()
    synthesize(release="r4.2", users=args.users, start="2010-01-02", end=end, seed=0, out=root / "src")
    t = time.perf_counter()
    summary = ingest(root / "src", root / "work")
    n_events = summary["events"]
    print(
        f"ingest, local engine: {n_events:,} events in {time.perf_counter() - t:.1f} s "
        f"= {n_events / (time.perf_counter() - t):,.0f} events/s"
    )
    t = time.perf_counter()
    build_sequences(root / "work")
    local_seq = time.perf_counter() - t
    print(f"sequences stage, local engine: {local_seq:.2f} s = {n_events / local_seq:,.0f} events/s")
    _init_ray(ray, max(workers))
    compare_reading(ray, root / "src", root, args.chunk_mb)
    for _ in range(2):  # the first call pays for the workers' imports
        t = time.perf_counter()
        build_sequences(root / "work", stage=ray_stage(chunks=2 * max(workers)))
        ray_seq = time.perf_counter() - t
    print(
        f"sequences stage, ray engine ({2 * max(workers)} user chunks, warm workers): {ray_seq:.2f} s "
        f"= {n_events / ray_seq:,.0f} events/s"
    )

    from neighborwatch.models.registry import detector_class
    from neighborwatch.models.train_work import train_work

    # the paper's shape (standard preset), trained briefly: scoring costs the same as a converged model's
    params = {**detector_class("lan").presets["standard"], "epochs": 1, "max_train_samples": 4000, "threads": 1}
    train_work(root / "work", root / "lan", "lan", params=params, seed=0)
    t = time.perf_counter()
    s = score_work(root / "work", root / "lan", root / "scores-local", split="test")
    acts = s["rows"]["activity"]
    print(
        f"score, local engine (scoring alone {s['scoring_seconds']:.1f} s): {acts:,} activities (+{s['rows'].get('session', 0):,} sessions, "
        f"{s['rows'].get('day', 0):,} days) in {s['seconds']:.1f} s = {acts / s['seconds']:,.0f} activities/s"
    )
    for n in workers:
        s = score_work(root / "work", root / "lan", root / f"scores-ray{n}", split="test", engine="ray", workers=n)
        busy = s["scoring_seconds"] / n
        print(
            f"score, ray engine, {n} actor(s): {s['seconds']:.1f} s in all (actor start-up, model + sequence "
            f"loading) = {acts / s['seconds']:,.0f} activities/s; scoring alone {busy:.1f} s per actor "
            f"= {acts / s['scoring_seconds']:,.0f} activities/s per actor"
        )

    if not args.skip_live:
        from neighborwatch.replay import replay
        from neighborwatch.scale.live import LiveCluster
        from neighborwatch.service.server import ServeOptions

        url, proc = _redis()
        try:
            for n in workers:
                prefix = f"bench:{n}"
                want = replay(root / "work", url, split="test", partitions=2, prefix=prefix)["events"]
                state = root / f"live{n}"
                opts = ServeOptions(
                    model=root / "lan",
                    work=root / "work",
                    redis=url,
                    token="t",
                    state=state,
                    sinks=[f"scores:{state / 'scores.jsonl'}"],
                    partitions=2,
                    prefix=prefix,
                    port=18700 + 10 * n,
                    snapshot_every_s=5.0,
                    budget_per_day=5,
                )
                files = [state / f"scores.p{p}.jsonl" for p in range(2)]
                t = time.perf_counter()
                cluster = LiveCluster(ray, opts, n, "t")
                cluster.info()
                t_ready = time.perf_counter()

                def count(files: list[Path] = files) -> int:
                    return sum(sum(1 for _ in f.open()) for f in files if f.exists())

                early = count()  # scored while the last runtimes were still starting
                while count() < want and time.perf_counter() - t_ready < 600:
                    time.sleep(0.2)
                done = count()
                secs = time.perf_counter() - t_ready
                cluster.stop()
                rate = (done - early) / secs
                print(
                    f"live, {n} worker actor(s) over 2 Redis partitions: {done:,} events ({done - early:,} after "
                    f"start-up, which took {t_ready - t:.1f} s) in {secs:.1f} s = {rate:,.0f} events/s, "
                    f"{rate / n:,.0f} per worker"
                )
        finally:
            proc.terminate()
    ray.shutdown()
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
