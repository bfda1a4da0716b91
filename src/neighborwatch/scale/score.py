"""`neighborwatch score WORK MODEL --out SCORES`: a period's scores, to Parquet partitioned by user.

Backfills and post-hoc hunts score months of history at once. Scores of one user depend only on
that user's sequences and the fitted detector (next-activity models read the prefix; LAN's
neighbour pool is fixed at inference), so users are the unit of work: the sorted users are cut
into contiguous chunks, each chunk is scored and written as one file per user and level:

    SCORES/activity/user=U/part-0.parquet   real-time: one row per activity of U's sessions
    SCORES/session/user=U/part-0.parquet    post-hoc: one row per session
    SCORES/day/user=U/part-0.parquet        post-hoc: one row per user-day
    SCORES/scores.json                      what was scored, row counts, engine, seconds

(levels the detector lacks are absent). The local engine runs the chunks in this process; the
Ray engine runs them on a pool of actors that each load the model and the sequences once. Both
call `ChunkScorer.score`, so they write the same files (up to float rounding of batched ops).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import polars as pl

from neighborwatch.scale.cluster import check_engine, cluster_cpus, connect
from neighborwatch.workdir import WorkDir, write_json

SPLITS = ("test", "validation", "train", "all")
CHUNKS_PER_WORKER = 4  # more chunks than workers: a slow chunk does not hold the others idle


class ChunkScorer:
    """The detector and the chosen period's sequences, loaded once; scores chunks of users."""

    def __init__(self, work: str | Path, model: str | Path, split: str, out: str | Path, threads: int = 1) -> None:
        import torch

        from neighborwatch.models.base import ACTIVITY, SEQUENCE
        from neighborwatch.models.registry import load_detector
        from neighborwatch.sequences.build import KINDS, load_sequences

        if threads:
            torch.set_num_threads(threads)
        self.detector = load_detector(model)
        self.out = Path(out)
        self.seqs = {}
        for kind in KINDS:
            try:
                seqs = load_sequences(work, kind)
            except FileNotFoundError:
                continue
            self.seqs[kind] = seqs if split == "all" else seqs.split(split)
        self.levels = ([("activity", "session")] if ACTIVITY in self.detector.levels else []) + (
            [(kind, kind) for kind in self.seqs] if SEQUENCE in self.detector.levels else []
        )

    def level_names(self) -> list[str]:
        return [level for level, _ in self.levels]

    def users(self) -> list[str]:
        found: set[str] = set()
        for seqs in self.seqs.values():
            found |= set(seqs.meta["user"].unique().to_list())
        return sorted(found)

    def score(self, users: list[str]) -> dict[str, Any]:
        """Score every level for `users` and write their files; returns the rows written per
        level and the seconds it took (busy time, without start-up)."""
        t0 = time.perf_counter()
        rows: dict[str, int] = {}
        for level, kind in self.levels:
            seqs = self.seqs[kind]
            ids = np.flatnonzero(seqs.meta["user"].is_in(users).to_numpy())
            if not len(ids):
                continue
            part = seqs.subset(ids)
            frame = self._activities(part, ids) if level == "activity" else self._sequences(part, ids)
            for (user,), group in frame.partition_by("user", as_dict=True, maintain_order=True).items():
                folder = self.out / level / f"user={quote(str(user), safe='')}"
                folder.mkdir(parents=True, exist_ok=True)
                group.drop("user").write_parquet(folder / "part-0.parquet")
            rows[level] = frame.height
        return {"rows": rows, "seconds": time.perf_counter() - t0}

    def _activities(self, part, ids: np.ndarray) -> pl.DataFrame:
        scores = np.asarray(self.detector.score_activities(part), dtype=np.float64)
        seq = part.seq_index()
        return pl.DataFrame(
            {
                "user": part.meta["user"].gather(seq),
                "seq_id": ids[seq],
                "position": part.position_in_sequence().astype(np.int32),
                "event_row": part.event_rows,
                "time": pl.Series(part.times, dtype=pl.Int64).cast(pl.Datetime("us")),
                "token": part.tokens,
                "score": scores,
            }
        )

    def _sequences(self, part, ids: np.ndarray) -> pl.DataFrame:
        scores = np.asarray(self.detector.score_sequences(part), dtype=np.float64)
        meta = part.meta.select(
            [c for c in ("user", "host", "day", "start", "end", "length", "split") if c in part.meta.columns]
        )
        if part.kind == "day":
            meta = meta.drop("host", strict=False)
        return meta.with_columns(pl.Series("seq_id", ids), pl.Series("score", scores)).select(
            "user", "seq_id", *[c for c in meta.columns if c != "user"], "score"
        )


def chunks(users: list[str], n: int) -> list[list[str]]:
    """`users` (sorted) in at most `n` contiguous, nearly equal chunks."""
    n = max(1, min(n, len(users)))
    return [list(c) for c in np.array_split(np.asarray(users, dtype=object), n) if len(c)]


def score_work(
    work: str | Path,
    model: str | Path,
    out: str | Path,
    split: str = "test",
    engine: str = "local",
    address: str | None = None,
    workers: int = 0,
) -> dict[str, Any]:
    """Score `split` of WORK with MODEL into `out`; returns (and writes) scores.json.
    `workers`: Ray actors (0 = one per CPU of the cluster)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    check_engine(engine)
    WorkDir(work).require()
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        if not (out / "scores.json").exists():
            raise ValueError(f"{out} is not empty and holds no scores.json: give a new or a SCORES folder")
        shutil.rmtree(out)  # a re-run replaces the scores; stale users must not survive
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if engine == "local":
        scorer = ChunkScorer(work, model, split, out, threads=0)
        users, levels = scorer.users(), scorer.level_names()
        results = [scorer.score(c) for c in chunks(users, CHUNKS_PER_WORKER)]
        n_workers = 1
    else:
        users, levels, results, n_workers = _score_on_ray(work, model, split, out, address, workers)
    rows = {lv: sum(r["rows"].get(lv, 0) for r in results) for lv in levels}
    summary = {
        "work": str(Path(work).resolve()),
        "model": str(Path(model).resolve()),
        "split": split,
        "engine": engine,
        "workers": n_workers,
        "users": len(users),
        "rows": rows,
        "seconds": round(time.perf_counter() - t0, 3),
        "scoring_seconds": round(sum(r["seconds"] for r in results), 3),
    }
    write_json(out / "scores.json", summary)
    return summary


def _score_on_ray(work, model, split, out, address, workers):
    with connect(address) as ray:
        from ray.util import ActorPool

        n = workers or cluster_cpus(ray)
        Actor = ray.remote(num_cpus=1)(ChunkScorer)
        actors = [Actor.remote(str(work), str(model), split, str(out)) for _ in range(n)]
        users = ray.get(actors[0].users.remote())
        levels = ray.get(actors[0].level_names.remote())
        pool = ActorPool(actors)
        work_items = chunks(users, n * CHUNKS_PER_WORKER)
        results = list(pool.map_unordered(lambda a, c: a.score.remote(c), work_items))
        for a in actors:
            ray.kill(a)
    return users, levels, results, n


def read_scores(out: str | Path, level: str) -> pl.DataFrame:
    """One level of a SCORES folder as a frame with its `user` column, sorted by (user, seq_id)."""
    from urllib.parse import unquote

    frames = []
    for path in sorted((Path(out) / level).glob("user=*/part-0.parquet")):
        user = unquote(path.parent.name.removeprefix("user="))
        frames.append(pl.read_parquet(path).with_columns(pl.lit(user).alias("user")))
    if not frames:
        return pl.DataFrame()
    keys = ["user", "seq_id"] + (["position"] if level == "activity" else [])
    return pl.concat(frames).sort(keys)
