"""The detector contract, checked for every name in `registry.available()` (LAN included), in the
spirit of scikit-learn's `test_common.py`: a new detector is tested by registering it.

Every detector is built from its own "fast" preset (`Detector.presets`) and fitted once on the
toy data (a planted anomaly); the checks: one score per item with NaN only where a detector has
no prefix to judge from; better than random on the planted anomaly; activity scores from the
prefix only; the same seed gives the same scores; save → load in a NEW PROCESS gives the same
scores; every activity detector has a stream scorer, and its scores, fed event by event (with a
snapshot → restore half way), equal the batch scores (≤ 1e-4); an unfitted detector refuses to
score; an unknown option is one error type (`UnknownOptionError`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from baselines.posthoc_fixtures import one_thread
from baselines.toy_sequences import streamed
from neighborwatch.models.base import ACTIVITY, SEQUENCE, Detector, NotFittedError
from neighborwatch.models.options import UnknownOptionError
from neighborwatch.models.registry import available, read_manifest
from neighborwatch.sequences.base import SequenceSet, sequence_labels
from neighborwatch.sequences.toy import toy_data

# the package's detectors: stand-ins that other test modules register (when pytest collects them
# first) are not held to the contract
NAMES = sorted(n for n, c in available().items() if c.__module__.startswith("neighborwatch."))
ACTIVITY_NAMES = [n for n in NAMES if ACTIVITY in available()[n].levels]
TOY = toy_data(seed=0)
TEST = TOY["test"][0]
_FITTED: dict[tuple[str, int], Detector] = {}


def make(name: str, seed: int = 0) -> Detector:
    cls = available()[name]
    return cls.create(cls.presets.get("fast", {}), seed=seed, vocab_size=TEST.vocab_size)


def fitted(name: str, seed: int = 0) -> Detector:
    """The detector fitted on the toy training split (once per name and seed)."""
    if (name, seed) not in _FITTED:
        with one_thread():
            _FITTED[name, seed] = make(name, seed).fit(*TOY["train"], *TOY["validation"])
    return _FITTED[name, seed]


def scores_of(det: Detector, seqs: SequenceSet = TEST) -> dict[str, np.ndarray]:
    with one_thread():
        out = {"sequence": det.score_sequences(seqs)}
        if ACTIVITY in det.levels:
            out["activity"] = det.score_activities(seqs)
    return out


def truncate(seqs: SequenceSet, keep: int) -> SequenceSet:
    """Every sequence cut to its first `keep` activities (what a real-time scorer had seen)."""
    mask = seqs.position_in_sequence() < keep
    lengths = np.minimum(seqs.lengths, keep)
    return SequenceSet(
        tokens=seqs.tokens[mask],
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        event_rows=seqs.event_rows[mask],
        times=seqs.times[mask],
        meta=seqs.meta.with_columns(length=lengths.astype(np.int32)),
        kind=seqs.kind,
        vocab_size=seqs.vocab_size,
    )


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_levels_and_presets(name: str) -> None:
    cls = available()[name]
    assert cls.name == name
    assert cls.levels and cls.levels <= {ACTIVITY, SEQUENCE}
    assert {"standard", "fast"} <= set(cls.presets) or set(cls.presets) <= {"standard", "fast"}
    for preset in cls.presets.values():  # every preset builds a detector
        assert isinstance(cls.create(preset, seed=1, vocab_size=TEST.vocab_size), cls)


@pytest.mark.parametrize("name", NAMES)
def test_an_unknown_option_is_one_clear_error(name: str) -> None:
    with pytest.raises(UnknownOptionError, match="no_such_option"):
        available()[name].create({"no_such_option": 1}, seed=0, vocab_size=TEST.vocab_size)


@pytest.mark.parametrize("name", NAMES)
def test_one_score_per_item_nan_only_without_a_prefix(name: str) -> None:
    scores = scores_of(fitted(name))
    seq = scores["sequence"]
    assert seq.shape == (len(TEST),) and np.issubdtype(seq.dtype, np.floating) and np.isfinite(seq).all()
    assert seq.std() > 0, "constant scores rank nothing"
    if "activity" in scores:
        act = scores["activity"]
        assert act.shape == (TEST.n_activities,) and act.dtype == np.float64
        first = TEST.position_in_sequence() == 0
        assert np.isfinite(act[~first]).all()
        assert np.isnan(act[first]).all()


@pytest.mark.parametrize("name", NAMES)
def test_better_than_random_on_the_planted_anomaly(name: str) -> None:
    scores = scores_of(fitted(name))
    labels = TOY["test"][1]
    if "activity" in scores:
        ok = ~np.isnan(scores["activity"])
        assert roc_auc_score(labels[ok], scores["activity"][ok]) > 0.7
    assert roc_auc_score(sequence_labels(TEST, labels), scores["sequence"]) > 0.7


@pytest.mark.parametrize("name", ACTIVITY_NAMES)
def test_activity_scores_use_the_prefix_only(name: str) -> None:
    det = fitted(name)
    with one_thread():
        short = det.score_activities(truncate(TEST, 3))
    full = scores_of(det)["activity"]
    np.testing.assert_allclose(short, full[TEST.position_in_sequence() < 3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_scores(name: str) -> None:
    with one_thread():  # as `fitted`: a different thread count may reorder float sums
        refit = make(name).fit(*TOY["train"], *TOY["validation"])
    first, again = scores_of(fitted(name)), scores_of(refit)
    for level in first:
        np.testing.assert_array_equal(again[level], first[level])


_RELOAD = """
import json, sys
import numpy as np, torch
torch.set_num_threads(1)
from neighborwatch.models.base import ACTIVITY
from neighborwatch.models.registry import load_detector
from neighborwatch.sequences.base import SequenceSet
root = sys.argv[1]
seqs = SequenceSet.load(root + "/test")
for name in json.loads(open(root + "/names.json").read()):
    det = load_detector(f"{root}/{name}")
    out = {"sequence": det.score_sequences(seqs)}
    if ACTIVITY in det.levels:
        out["activity"] = det.score_activities(seqs)
    np.savez(f"{root}/{name}.npz", **out)
"""


@pytest.fixture(scope="module")
def reloaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, dict[str, np.ndarray]]]]:
    """Every detector saved here, then loaded and scored in ONE fresh Python process."""
    root = tmp_path_factory.mktemp("saved")
    TEST.save(root / "test")
    for name in NAMES:
        fitted(name).save(root / name)
    (root / "names.json").write_text(json.dumps(NAMES))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", _RELOAD, str(root)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = {}
    for name in NAMES:
        with np.load(root / f"{name}.npz") as z:
            out[name] = {k: z[k] for k in z.files}
    yield root, out


@pytest.mark.parametrize("name", NAMES)
def test_save_then_load_in_a_new_process_gives_the_same_scores(name: str, reloaded) -> None:
    root, scores = reloaded
    assert read_manifest(root / name)["name"] == name
    assert not [p for p in (root / name).rglob("*") if p.suffix in {".pkl", ".pickle"}]
    mine = scores_of(fitted(name))
    assert set(scores[name]) == set(mine)
    for level, values in mine.items():
        np.testing.assert_allclose(scores[name][level], values, rtol=1e-6, atol=1e-7, err_msg=level)


@pytest.mark.parametrize("name", ACTIVITY_NAMES)
def test_every_activity_detector_streams_the_batch_scores(name: str) -> None:
    det = fitted(name)
    with one_thread():
        live = streamed(det, TEST)
    batch = scores_of(det)["activity"]
    np.testing.assert_array_equal(np.isnan(live), np.isnan(batch))
    assert np.nanmax(np.abs(live - batch)) <= 1e-4


@pytest.mark.parametrize("name", NAMES)
def test_unfitted_detector_refuses_to_score(name: str) -> None:
    det = make(name)
    with pytest.raises(NotFittedError, match=f"{name} is not fitted"):
        det.score_sequences(TEST)
    if ACTIVITY in det.levels:
        with pytest.raises(NotFittedError):
            det.stream_scorer()
