"""`neighborwatch train --detector NAME` then `serve` for detectors other than LAN: events posted
to the HTTP intake are scored live exactly as the batch path scores them (≤ 1e-4)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from neighborwatch.cli import app
from neighborwatch.models.registry import load_detector
from neighborwatch.sequences.build import load_sequences
from neighborwatch.service.app import create_app
from neighborwatch.service.server import ServeOptions, build_runtime
from streaming_fixtures import batch_scores_by_event, events_as_dicts, small_work

TOKEN = "t0ken-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def train(work: Path, out: Path, detector: str, *options: str) -> Path:
    result = CliRunner().invoke(
        app, ["train", str(work), "--detector", detector, "--out", str(out), "--seed", "3", *options]
    )
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert json.loads((out / "train.json").read_text())["detector"] == detector
    return out


@pytest.mark.parametrize(
    "detector, options",
    [
        ("deeplog", ["--preset", "fast"]),
        ("markov", []),
    ],
)
def test_served_model_scores_posted_events_like_the_batch_path(
    tmp_path: Path, detector: str, options: list[str]
) -> None:
    work = small_work()
    model = train(work, tmp_path / "model", detector, *options)
    runtime, _ = build_runtime(
        ServeOptions(
            model=model,
            work=work,
            state=tmp_path / "state",
            sinks=[f"scores:{tmp_path / 'scores.jsonl'}"],
            max_hold_s=0.05,
            snapshot_every_s=60.0,
        )
    )
    events = events_as_dicts(pl.read_parquet(work / "events.parquet"))
    runtime.start()
    try:
        with TestClient(create_app(runtime, TOKEN)) as client:
            for i in range(0, len(events), 500):
                r = client.post("/events", json={"events": events[i : i + 500]}, headers=AUTH)
                assert r.status_code == 202, r.text
            end = time.time() + 60
            while time.time() < end:
                with runtime.lock:
                    if runtime.engine.counters["accepted"] == len(events) and runtime.engine.buffered == 0:
                        break
                time.sleep(0.05)
    finally:
        runtime.stop()
    lines = [json.loads(x) for x in (tmp_path / "scores.jsonl").read_text().splitlines()]
    live = {r["event_id"]: r["score"] for r in lines}
    assert len(live) == len(events)
    seqs = load_sequences(work)
    batch = batch_scores_by_event(work, seqs, load_detector(model).score_activities(seqs))
    diffs = []
    for event_id, b in batch.items():
        assert (live[event_id] is None) == np.isnan(b), event_id
        if live[event_id] is not None:
            diffs.append(abs(live[event_id] - b))
    assert len(diffs) > 1000 and max(diffs) <= 1e-4, max(diffs)


def test_training_a_detector_rejects_options_of_another(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["train", str(small_work()), "--detector", "markov", "--k", "4", "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 2 and "LAN option" in result.output
    result = CliRunner().invoke(
        app, ["train", str(small_work()), "--detector", "no_such", "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 2 and "unknown detector" in result.output
