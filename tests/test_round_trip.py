"""synth → prepare: the labels equal the generated answers, and the statistics the generator's."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import polars as pl
import pytest

from neighborwatch.data.synth import synthesize
from neighborwatch.pipeline import prepare_work
from neighborwatch.sequences.stats import dataset_stats


@pytest.fixture(scope="module", params=["r4.2", "r5.2", "r6.2"])
def prepared(request, tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp(request.param)
    raw, work = root / "raw", root / "work"
    manifest = synthesize(release=request.param, users=30, start="2010-01-02", end="2010-04-01", seed=7, out=raw)
    prepare_work(raw, work)
    return raw, work, manifest


def answer_ids(raw: Path) -> dict[str, int]:
    """Every event id listed in the answer files, read directly (type,id,... rows), → scenario."""
    ids: dict[str, int] = {}
    for f in sorted((raw / "answers").rglob("r*.csv")):
        scenario = int(f.stem.split("-")[1])
        with f.open(newline="") as fh:
            for row in csv.reader(fh):
                if row:
                    ids[row[1]] = scenario
    return ids


def test_labels_equal_generated_answers(prepared):
    raw, work, manifest = prepared
    labels = pl.read_parquet(work / "labels.parquet").filter(pl.col("malicious"))
    got = dict(zip(labels["event_id"].to_list(), labels["scenario"].to_list()))
    assert got == answer_ids(raw)
    assert len(got) == manifest["malicious_events"]


def test_summary_and_stats_match_generator_counts(prepared):
    raw, work, manifest = prepared
    summary = json.loads((work / "summary.json").read_text())
    assert {s: v["rows"] for s, v in summary["sources"].items()} == manifest["rows"]
    assert sum(manifest["rows"].values()) == manifest["total_events"]
    assert summary["quarantined"]["rows"] == 0
    stats = dataset_stats(work, write=False)
    assert stats["events"] == manifest["total_events"]
    assert stats["malicious_events"] == manifest["malicious_events"]
    assert stats["insiders"] == len(manifest["insiders"])
    per_scenario = {int(k): v for k, v in manifest["malicious_events_per_scenario"].items()}
    got = {int(k): v["malicious_events"] for k, v in stats["scenarios"].items()}
    assert got == per_scenario
