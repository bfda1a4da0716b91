"""Post-hoc LAN (`models/lan/posthoc.py`): its evidence summary, and that the head learns from it.

The contract tests (fit, score, save → load, seeds, options) run for `lan_posthoc` with every
other detector in `tests/test_contract.py`; here: what only this detector does.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from neighborwatch.models.baselines.posthoc.gbt import GBT
from neighborwatch.models.lan.posthoc import RARE_QUANTILES, TOPS, LANPosthoc, activity_evidence, length_baseline
from neighborwatch.sequences.base import META_SCHEMA, SequenceSet


def sequence_set(seqs: list[list[int]]) -> SequenceSet:
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    tokens = np.concatenate([np.array(s, dtype=np.int32) for s in seqs]) if seqs else np.zeros(0, np.int32)
    n = len(seqs)
    base = np.datetime64("2010-01-04", "us").astype(np.int64)
    seq_of = np.repeat(np.arange(n), lengths)
    times = base + seq_of * 86_400_000_000 + (np.arange(tokens.size) - np.repeat(offsets[:-1], lengths)) * 60_000_000
    meta = pl.DataFrame(
        {
            "seq_id": np.arange(n),
            "user": [f"U{i % 5}" for i in range(n)],
            "host": ["PC-1"] * n,
            "start": times[offsets[:-1]].astype("datetime64[us]") if n else np.zeros(0, "datetime64[us]"),
            "end": times[offsets[1:] - 1].astype("datetime64[us]") if n else np.zeros(0, "datetime64[us]"),
            "length": lengths.astype(np.int32),
            "split": ["train"] * n,
        },
        schema=META_SCHEMA,
    )
    return SequenceSet(tokens=tokens, offsets=offsets, event_rows=np.arange(tokens.size), times=times, meta=meta)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.none(), st.floats(0.0, 30.0, allow_nan=False)), min_size=1, max_size=9),
        min_size=1,
        max_size=8,
    )
)
def test_the_evidence_summary_is_the_per_sequence_top_means_mean_and_counts(rows: list[list[Any]]) -> None:
    seqs = sequence_set([[1] * len(r) for r in rows])
    surprise = np.array([np.nan if v is None else v for r in rows for v in r])
    levels = np.array([5.0, 20.0])
    got = activity_evidence(seqs, surprise, levels)
    assert got.shape == (len(rows), len(TOPS) + 1 + len(levels))
    for i, r in enumerate(rows):
        v = np.sort([x for x in r if x is not None])[::-1]
        want = [v[:t].mean() if v.size else 0.0 for t in TOPS] + [v.mean() if v.size else 0.0]
        want += [float((v > lv).sum()) for lv in levels]
        np.testing.assert_allclose(got[i], want, rtol=1e-12, atol=1e-12)


class OrderModel:
    """A stand-in activity model: an activity whose token is below its predecessor's gets
    probability 0.001, any other 0.9 (the first of a sequence is unscored), as a model that has
    learnt the order of a session would."""

    config = SimpleNamespace(seed=0)

    def fit(self, *args: Any) -> OrderModel:
        return self

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        prev = np.concatenate([[0], seqs.tokens[:-1]])
        scores = np.where(seqs.tokens < prev, 0.999, 0.1)
        scores[seqs.offsets[:-1][seqs.lengths > 0]] = np.nan
        return scores


def order_data(n: int, rng: np.random.Generator, kinds: tuple[str, ...] = ("swap",)) -> tuple[SequenceSet, np.ndarray]:
    """Sessions of ascending tokens. Malicious ones either have two middle activities swapped
    ("swap": counts, shares, hours and duration cannot tell them apart, only the order), or end
    with token 50 ("extra": a count shows it, and the order stays ascending)."""
    seqs, labels = [], []
    for i in range(n):
        s = sorted(int(t) for t in rng.choice(np.arange(2, 40), 6, replace=False))
        kind = kinds[i % len(kinds)] if rng.random() < 0.2 else ""
        if kind == "swap":
            s[2], s[3] = s[3], s[2]
            labels.append([False, False, True, True, False, False])
        elif kind == "extra":
            s.append(50)
            labels.append([False] * 6 + [True])
        else:
            labels.append([False] * 6)
        seqs.append(s)
    return sequence_set(seqs), np.concatenate([np.array(lab, dtype=bool) for lab in labels])


def test_the_head_learns_what_only_the_activity_evidence_shows() -> None:
    rng = np.random.default_rng(3)
    train, train_labels = order_data(400, rng)
    test, test_labels = order_data(200, rng)
    y = np.add.reduceat(test_labels, test.offsets[:-1]) > 0

    counts_only = GBT(seed=0).fit(train, train_labels).score_sequences(test)
    assert roc_auc_score(y, counts_only) < 0.75  # the control: count features alone cannot see it

    det = LANPosthoc(OrderModel())  # type: ignore[arg-type]  (a stand-in for the fitted LAN)
    det.fit(train, train_labels)
    assert roc_auc_score(y, det.score_sequences(test)) > 0.95
    assert det.rare_levels.shape == (len(RARE_QUANTILES),)


def test_validation_picks_the_rule_that_also_finds_what_the_training_period_never_showed() -> None:
    rng = np.random.default_rng(5)
    train, train_labels = order_data(400, rng, ("extra",))  # the head learns token 50 only
    validation, validation_labels = order_data(300, rng, ("extra", "swap"))
    test, test_labels = order_data(300, rng, ("extra", "swap"))
    y = np.add.reduceat(test_labels, test.offsets[:-1]) > 0

    det = LANPosthoc(OrderModel())  # type: ignore[arg-type]
    det.fit(train, train_labels, validation, validation_labels)
    assert det.rule in ("evidence", "evidence_for_length", "either")
    assert det.validation_auc[det.rule] > det.validation_auc["head"]
    head_only = det._combine(det._parts(det._features(test)), "head")
    assert roc_auc_score(y, det.score_sequences(test)) > roc_auc_score(y, head_only) + 0.1
    assert det.fit_summary()["rule"] == det.rule

    det.fit(train, train_labels)  # no validation: the head alone
    assert det.rule == "head" and det.validation_auc == {}


class TokenSurprisal:
    """A stand-in activity model whose surprisal of an activity is its token / 10 nats."""

    config = SimpleNamespace(seed=0)

    def fit(self, *args: Any) -> TokenSurprisal:
        return self

    def score_activities(self, seqs: SequenceSet) -> np.ndarray:
        return 1.0 - np.exp(-seqs.tokens / 10.0)


def surprisal_data(n: int, rng: np.random.Generator, share: float) -> tuple[SequenceSet, np.ndarray]:
    """Normal sequences of 3-300 activities with exponential surprisals (so their top-3 mean grows
    with their length); malicious ones are short and hold three activities of 4.5 nats, less than
    the top-3 mean of a long normal sequence (a `share` of the sequences)."""
    seqs, labels = [], []
    for _ in range(n):
        if rng.random() < share:
            s = [int(t) for t in np.clip(1 + np.round(10 * rng.exponential(1.0, rng.integers(3, 8))), 1, 30)]
            s += [45, 45, 45]
            labels.append([False] * (len(s) - 3) + [True] * 3)
        else:
            s = [int(t) for t in np.clip(1 + np.round(10 * rng.exponential(1.0, int(rng.integers(3, 300)))), 1, 160)]
            labels.append([False] * len(s))
        seqs.append(s)
    return sequence_set(seqs), np.concatenate([np.array(lab, dtype=bool) for lab in labels])


def test_the_evidence_rule_compares_a_sequence_with_normal_ones_of_its_length() -> None:
    rng = np.random.default_rng(7)
    train, train_labels = surprisal_data(600, rng, 0.02)
    test, test_labels = surprisal_data(300, rng, 0.15)
    y = np.add.reduceat(test_labels, test.offsets[:-1]) > 0

    det = LANPosthoc(TokenSurprisal())  # type: ignore[arg-type]
    validation, validation_labels = surprisal_data(300, rng, 0.15)
    det.fit(train, train_labels, validation, validation_labels)
    parts = det._parts(det._features(test))
    assert roc_auc_score(y, parts["evidence"]) < 0.7  # the control: long normal sequences hold rarer activities
    assert roc_auc_score(y, parts["evidence_for_length"]) > 0.95
    auc = det.validation_auc  # validation scores the rule too
    assert auc["evidence_for_length"] > 0.95 and auc["evidence"] < 0.7
    knots = det.length_knots
    assert np.all(np.diff(knots[1]) >= 0) and knots[1, -1] > knots[1, 0] + 2  # rises with length


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 500), st.floats(0.0, 30.0, allow_nan=False)), min_size=1, max_size=40))
def test_the_length_baseline_is_monotone_and_within_the_observed_range(rows: list[tuple[int, float]]) -> None:
    lengths, evidence = (np.array(v, dtype=np.float64) for v in zip(*rows))
    knots = length_baseline(lengths, evidence)
    expected = np.interp(np.log1p(np.arange(0, 600)), *knots)
    assert np.all(np.diff(expected) >= -1e-12)
    assert evidence.min() - 1e-9 <= expected.min() and expected.max() <= evidence.max() + 1e-9


def test_the_activity_model_is_trained_without_labels_unless_asked() -> None:
    assert LANPosthoc.create({}, seed=0, vocab_size=169).lan.config.loss == "normal_only"
    assert LANPosthoc.create({"loss": "hybrid", "k": 3}, seed=0, vocab_size=169).lan.config.loss == "hybrid"
    assert all(p["loss"] == "normal_only" for p in LANPosthoc.presets.values())


def test_fit_needs_training_labels_of_both_classes() -> None:
    train, labels = order_data(40, np.random.default_rng(0))
    det = LANPosthoc(OrderModel())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="training labels"):
        det.fit(train)
    with pytest.raises(ValueError, match="both normal and malicious"):
        det.fit(train, labels & False)


def test_the_length_baseline_is_rebuilt_at_load_from_the_saved_training_matrix(tmp_path: Path) -> None:
    from neighborwatch.sequences.toy import toy_data

    toy = toy_data(seed=0)
    test = toy["test"][0]
    det = LANPosthoc.create(LANPosthoc.presets["fast"], seed=0, vocab_size=test.vocab_size)
    det.fit(*toy["train"], *toy["validation"])
    det.rule = "evidence_for_length"
    det.save(tmp_path / "model")
    assert "length_knots" not in np.load(tmp_path / "model" / "head.npz")  # derived, not stored
    loaded = LANPosthoc.load(tmp_path / "model")
    assert np.ptp(loaded.length_knots[1]) > 0
    np.testing.assert_array_equal(loaded.length_knots, det.length_knots)
    _, top3 = loaded._length_and_top3(loaded._features(test))
    np.testing.assert_allclose(loaded.score_sequences(test), det.score_sequences(test), rtol=1e-9)
    assert not np.allclose(loaded.score_sequences(test), top3)
