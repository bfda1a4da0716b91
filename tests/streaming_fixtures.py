"""Shared fixtures for the streaming / service / dashboard tests: a tiny prepared WORK folder
with canonical events, and a tiny LAN trained on it — built once per test process.

The events come from a small hand-written generator (not the CERT synthesizer) so that these
tests only depend on the canonical schema, the batch sequence builder and LAN: office-hours
sessions with e-mail/web/file activity, a second PC for some users, sessions left open,
same-second ties, repeats for the collapse, and one insider with night-time device use.
"""

from __future__ import annotations

import functools
import json
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from neighborwatch.data.schema import conform_events

START = datetime(2010, 1, 4)


def make_events(seed: int = 0, users: int = 10, days: int = 40) -> pl.DataFrame:
    """Canonical events sorted by (time, event_id), ids unique."""
    rng = np.random.default_rng(seed)
    rows: list[tuple] = []

    def add(t: datetime, user: str, host: str, source: str, action: str) -> None:
        rows.append((t, user, host, source, action))

    for d in range(days):
        day = START + timedelta(days=d)
        if day.weekday() >= 5:
            continue
        for u in range(users):
            user, host = f"U{u:03d}", f"PC-{u:04d}"
            t = day + timedelta(hours=int(rng.integers(7, 10)), minutes=int(rng.integers(0, 60)))
            if rng.random() < 0.1:  # activity before the logon (session opened by a non-logon)
                add(t - timedelta(minutes=5), user, host, "http", "WWW Visit")
            add(t, user, host, "logon", "Logon")
            for _ in range(int(rng.integers(4, 14))):
                t += timedelta(minutes=int(rng.integers(0, 50)))  # 0 minutes → same-second ties
                src = str(rng.choice(["email", "http", "http", "file"]))
                add(t, user, host, src, {"email": "Send", "http": "WWW Visit", "file": "File Open"}[src])
                if rng.random() < 0.2:  # an immediate repeat (collapsed in the sequences)
                    add(t + timedelta(seconds=20), user, host, src, rows[-1][4])
            if rng.random() < 0.15:  # a second PC, session never closed
                other = f"PC-{(u + 5) % users:04d}s"
                add(t + timedelta(minutes=3), user, other, "logon", "Logon")
                add(t + timedelta(minutes=9), user, other, "file", "File Open")
            if rng.random() > 0.05:  # a few sessions stay open
                add(t + timedelta(minutes=int(rng.integers(10, 90))), user, host, "logon", "Logoff")
        if d > days * 0.6 and rng.random() < 0.5:  # the insider: night logon, USB, uploads
            user, host = "U000", "PC-0000"
            t = day + timedelta(hours=int(rng.integers(0, 4)), minutes=7)
            add(t, user, host, "logon", "Logon")
            add(t + timedelta(minutes=2), user, host, "device", "Connect")
            for k in range(int(rng.integers(1, 4))):
                add(t + timedelta(minutes=5 + k), user, host, "http", "WWW Upload")
            add(t + timedelta(minutes=20), user, host, "device", "Disconnect")
            add(t + timedelta(minutes=21), user, host, "logon", "Logoff")
    df = pl.DataFrame(
        rows,
        schema={"time": pl.Datetime("us"), "user": pl.Utf8, "host": pl.Utf8, "source": pl.Utf8, "action": pl.Utf8},
        orient="row",
    )
    df = df.sort("time", maintain_order=True).with_row_index("n")
    df = df.with_columns(pl.format("E{}", pl.col("n").cast(pl.Utf8).str.zfill(7)).alias("event_id")).drop("n")
    return conform_events(df).sort(["time", "event_id"])


def make_work(root: Path, seed: int = 0, users: int = 10, days: int = 40) -> Path:
    """A prepared WORK folder (events, summary, sequences) built by the real batch builder."""
    from neighborwatch.sequences.build import build_sequences

    root.mkdir(parents=True, exist_ok=True)
    make_events(seed, users, days).write_parquet(root / "events.parquet")
    (root / "summary.json").write_text(json.dumps({"release": "r4.2", "source": "streaming test generator"}))
    build_sequences(root)
    return root


def train_tiny_lan(work: Path, out: Path, **overrides) -> Path:
    from neighborwatch.models.lan.detector import LAN
    from neighborwatch.sequences.build import load_sequences

    seqs = load_sequences(work)
    train, val = seqs.split("train"), seqs.split("validation")
    cfg = dict(
        embed_dim=16,
        hidden=16,
        layers=2,
        attention_heads=2,
        transformer_heads=2,
        k=5,
        epochs=1,
        lr=3e-3,
        batch_size=256,
        mode="fast",
        device="cpu",
        max_train_samples=500,
        seed=1,
        vocab_size=train.vocab_size,
    )
    cfg.update(overrides)
    det = LAN(**cfg)
    det.fit(train, np.zeros(train.n_activities, bool), val, np.zeros(val.n_activities, bool))
    det.save(out)
    return out


@functools.cache
def tiny_setup() -> tuple[Path, Path]:
    """(WORK, MODEL) built once per process in a temp folder removed at exit."""
    import atexit

    root = Path(tempfile.mkdtemp(prefix="nw-stream-"))
    atexit.register(shutil.rmtree, root, True)
    work = make_work(root / "work")
    model = train_tiny_lan(work, root / "model")
    return work, model


def events_as_dicts(df: pl.DataFrame) -> list[dict]:
    out = []
    for r in df.iter_rows(named=True):
        d = {k: v for k, v in r.items() if v is not None}
        d["time"] = r["time"].isoformat()
        out.append(d)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@functools.cache
def _redis_server() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        return ""
    import atexit

    d = Path(tempfile.mkdtemp(prefix="nw-redis-"))
    port = free_port()
    proc = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(d),
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def stop() -> None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(d, True)

    atexit.register(stop)
    import redis

    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            return url
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A private redis-server on a free loopback port; skipped only where the binary is absent."""
    url = _redis_server()
    if not url:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does it)")
    import redis

    redis.Redis.from_url(url).flushall()
    return url


@pytest.fixture(scope="session")
def tiny() -> tuple[Path, Path]:
    return tiny_setup()


@functools.cache
def small_work() -> Path:
    """A tiny WORK without a model (for engine tests with the bigram scorer)."""
    import atexit

    root = Path(tempfile.mkdtemp(prefix="nw-stream-work-"))
    atexit.register(shutil.rmtree, root, True)
    return make_work(root / "work", seed=3, users=8, days=25)


def bigram_engine(work: Path, thresholds=None, **config):
    """An Engine over the bigram stand-in scorer fitted on the WORK's training sessions."""
    from neighborwatch.sequences.build import load_sequences
    from neighborwatch.streaming.alerts import Thresholds
    from neighborwatch.streaming.engine import Engine, EngineConfig
    from neighborwatch.streaming.loader import tokenizer_for
    from neighborwatch.streaming.scorer import BigramScorer

    seqs = load_sequences(work)
    scorer = BigramScorer.fit(seqs.split("train"))
    from neighborwatch.sequences.build import load_bos

    tok, collapse = tokenizer_for(None, work)  # type: ignore[arg-type]
    cfg = EngineConfig(collapse=collapse, bos=load_bos(work), **config)
    return Engine(scorer, tok.transform, tok.decode, thresholds or Thresholds(), cfg), seqs


def batch_scores_by_event(work: Path, seqs, scores: np.ndarray) -> dict[str, float]:
    """event_id → batch score for every activity of the sequence set (not its BOS positions)."""
    ids = pl.read_parquet(work / "events.parquet", columns=["event_id"])["event_id"].to_list()
    return {ids[r]: float(s) for r, s in zip(seqs.event_rows, scores) if r >= 0}
