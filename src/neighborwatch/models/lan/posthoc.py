"""Post-hoc LAN: a sequence head trained on sequence labels, over LAN's activity evidence.

Why: LAN's default post-hoc score (the mean of a sequence's 3 highest real-time scores) is
unsupervised at the sequence level and lost to boosted trees on plain count features (issue 15
§3). A bidirectional cloze scorer P(a_i | a_<i, a_>i) trained with the hybrid loss was tried
first and scored lower than the real-time top-3 mean (r4.2 dev org, seed 0: session AUC 0.889
against 0.904): with both sides in view an insider's thumb-drive connect is predicted by the
file copies that follow it.

What: the real-time LAN is fitted on the level's own training sequences (sessions for the
session table, user-days for the user-day table) and scores their activities; per sequence,
its activity surprisals −log P(a_i | prefix, neighbours) are summarised (`activity_evidence`),
and a class-balanced gradient-boosted head is trained on the training sequences' labels with
these summaries next to the count features the GBT row sees (`posthoc.features`). Head and
hyper-parameters are the GBT row's (`gbt.boosted_classifier`), so the difference between the
two rows is LAN's evidence.

Evidence for the sequence's size: the highest of N surprisals grows with N (a day of 300
activities holds rarer ones than a day of 10, insider or not: on the r5.2 dev org's training
user-days the top-3 mean rises from 4.2 nats at ≤ 10 activities to 7.7 at 320). A second
unsupervised rule therefore scores a sequence's top-3 mean minus what the training sequences of
its length show: a monotone (isotonic) fit of the training sequences' top-3 mean on log length,
without labels (`length_baseline`). Neither reading wins everywhere: the length-adjusted one
ranked long normal user-days below an insider's shorter ones on the r5.2 dev org, and ranked a
scenario-2 insider's long sessions of moderate surprisal below normal ones on an r4.2 org, so
validation chooses between them as between the other rules.

Which score: the head learns the scenarios the training period shows, and nothing else (r4.2 dev
org: it found the scenario-2 sessions and none of the scenario-1 ones, which LAN's unsupervised
top-3 mean found all of). So the rules are scored on the validation sequences, whose held-out
insiders span several scenarios (`sequences.splits`), and the best by validation AUC is kept
(`RULES`); the test period plays no part in the choice. Ties go to the earlier rule.

Why LAN is trained normal-only here: the head learns from the training sequences' evidence,
which LAN was fitted on. With the hybrid loss the training period's malicious activities are
pushed to near-zero probability, so their in-sample surprisal overstates what an unseen insider
shows and the head would trust it; without labels in LAN's loss a training insider's
activities are as unseen to LAN as a test insider's (`PRESET_CHANGES`).

Saved: the LAN under `activity_model/`, and the head's training matrix and labels in
`head.npz` (the head and the length baseline are refitted at load: deterministic for a seed, no
pickle; as the feature baselines do).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from neighborwatch.models.base import SEQUENCE, Detector, NotFittedError, surprisal
from neighborwatch.models.baselines.posthoc._featurebase import training_sequence_labels
from neighborwatch.models.baselines.posthoc.features import feature_names, sequence_features
from neighborwatch.models.baselines.posthoc.gbt import GBTConfig, boosted_classifier
from neighborwatch.models.lan.detector import LAN
from neighborwatch.models.manifest import read_manifest, register, write_manifest
from neighborwatch.sequences.base import SequenceSet, sequence_labels

ACTIVITY_MODEL = "activity_model"
HEAD_ARRAYS = "head.npz"
TOPS = (1, 3, 5)
#: surprisal quantiles of the training activities; the head counts activities above each
RARE_QUANTILES = (0.99, 0.999)
#: head: the boosted head's probability; evidence: LAN's top-3 mean surprisal (unsupervised);
#: evidence_for_length: the same above the training sequences' at its length (unsupervised);
#: either: the higher of the head's and the evidence's ranks among the validation sequences
RULES = ("head", "evidence", "evidence_for_length", "either")
#: lowest P of the evidence (its surprisal cap, −log ≈ 27.6 nats; the risk rule's is 1e-9)
EVIDENCE_MIN_P = 1e-12
#: the count features' "length" column, counted from their end (the columns after it do not
#: depend on the vocabulary)
LENGTH_FROM_END = len(feature_names(1)) - feature_names(1).index("length")
#: what post-hoc LAN changes in LAN's presets (module docstring)
PRESET_CHANGES = {"loss": "normal_only"}


def activity_evidence(seqs: SequenceSet, surprise: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """float64 [n_sequences, 4 + len(levels)]: mean of the 1 / 3 / 5 highest surprisals, mean
    surprisal, and how many activities exceed each level (unscored positions are left out)."""
    n = len(seqs)
    seq = seqs.seq_index()
    ok = ~np.isnan(surprise)
    seq, s = seq[ok], surprise[ok]
    order = np.lexsort((-s, seq))  # by sequence, highest surprisal first
    seq, s = seq[order], s[order]
    rank = np.arange(seq.size) - np.searchsorted(seq, seq)
    counts = np.bincount(seq, minlength=n).astype(np.float64)
    cols: list[np.ndarray] = []
    for top in TOPS:
        head = rank < top
        cols.append(np.bincount(seq[head], weights=s[head], minlength=n) / np.maximum(np.minimum(counts, top), 1))
    cols.append(np.bincount(seq, weights=s, minlength=n) / np.maximum(counts, 1))
    cols += [np.bincount(seq, weights=(s > lv).astype(np.float64), minlength=n) for lv in levels]
    return np.column_stack(cols) if n else np.zeros((0, len(TOPS) + 1 + len(levels)))


def length_baseline(lengths: np.ndarray, evidence: np.ndarray) -> np.ndarray:
    """float64 [2, n_knots]: (log1p length, expected top-3 mean surprisal) of a monotone fit over
    sequences; `np.interp` on the knots is the fit's prediction (flat beyond the ends)."""
    if lengths.size == 0:
        return np.zeros((2, 1))
    fit = IsotonicRegression(out_of_bounds="clip").fit(np.log1p(lengths), evidence)
    return np.vstack([fit.X_thresholds_, fit.y_thresholds_]).astype(np.float64)


@register
class LANPosthoc(Detector):
    name = "lan_posthoc"
    levels: ClassVar[frozenset[str]] = frozenset({SEQUENCE})
    presets = {name: {**values, **PRESET_CHANGES} for name, values in LAN.presets.items()}

    @classmethod
    def create(cls, params: Any = None, *, seed: int = 42, vocab_size: int | None = None) -> LANPosthoc:
        return cls(LAN.create({**PRESET_CHANGES, **dict(params or {})}, seed=seed, vocab_size=vocab_size))

    @classmethod
    def effective_params(cls, params: Any) -> dict[str, Any]:
        return LAN.effective_params({**PRESET_CHANGES, **dict(params)})

    def __init__(self, lan: LAN | None = None, **overrides: Any) -> None:
        self.lan = lan or LAN(**{**PRESET_CHANGES, **overrides})
        self.head_config = GBTConfig(seed=self.lan.config.seed)
        self.head: Any = None
        self.rare_levels = np.zeros(len(RARE_QUANTILES))
        #: knots of the expected top-3 mean by log length (derived from the head's training matrix)
        self.length_knots = np.zeros((2, 1))
        self.rule = RULES[0]
        self.validation_auc: dict[str, float] = {}
        #: sorted validation scores of the head and of the evidence (ranks of the `either` rule)
        self.references = (np.zeros(0), np.zeros(0))
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None

    def _features(self, seqs: SequenceSet, surprise: np.ndarray | None = None) -> np.ndarray:
        """The head's input: the GBT row's count features next to LAN's evidence."""
        if surprise is None:
            surprise = surprisal(self.lan.score_activities(seqs), EVIDENCE_MIN_P)
        return np.hstack([sequence_features(seqs), activity_evidence(seqs, surprise, self.rare_levels)])

    def _length_and_top3(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each row's activity count and top-3 mean surprisal (columns of `_features`)."""
        n_evidence = len(TOPS) + 1 + len(RARE_QUANTILES)
        length = x[:, -(n_evidence + LENGTH_FROM_END)]
        top3 = x[:, -n_evidence + TOPS.index(3)]
        return length.astype(np.float64), top3.astype(np.float64)

    def _parts(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Per row of `x`: the head's probability, the top-3 mean surprisal, and the latter above
        the length baseline."""
        length, top3 = self._length_and_top3(x)
        return {
            "head": np.asarray(self.head.predict_proba(x)[:, 1], dtype=np.float64),
            "evidence": top3,
            "evidence_for_length": top3 - np.interp(np.log1p(length), *self.length_knots),
        }

    def _combine(self, parts: dict[str, np.ndarray], rule: str) -> np.ndarray:
        if rule != "either":
            return parts[rule]
        ranks = [
            np.searchsorted(ref, v, side="right") / max(ref.size, 1)
            for ref, v in zip(self.references, (parts["head"], parts["evidence"]))
        ]
        return np.maximum(*ranks) + 1e-6 * (ranks[0] + ranks[1])  # the sum orders ties of the max

    def _select_rule(self, validation: SequenceSet | None, validation_labels: np.ndarray | None) -> None:
        """Keep the rule with the highest validation AUC (the head alone without usable validation)."""
        self.rule, self.validation_auc = RULES[0], {}
        if validation is None or validation_labels is None or not len(validation):
            return
        y = sequence_labels(validation, np.asarray(validation_labels, dtype=bool))
        if y.all() or not y.any():
            return
        parts = self._parts(self._features(validation))
        self.references = (np.sort(parts["head"]), np.sort(parts["evidence"]))
        self.validation_auc = {r: float(roc_auc_score(y, self._combine(parts, r))) for r in RULES}
        self.rule = max(RULES, key=lambda r: (self.validation_auc[r], -RULES.index(r)))

    def fit_summary(self) -> dict[str, Any]:
        return {"rule": self.rule, "validation_auc": self.validation_auc}

    def fit(
        self,
        train: SequenceSet,
        train_labels: np.ndarray | None = None,
        validation: SequenceSet | None = None,
        validation_labels: np.ndarray | None = None,
    ) -> LANPosthoc:
        y = training_sequence_labels(self.name, train, train_labels)
        self.lan.fit(train, train_labels, validation, validation_labels)
        surprise = surprisal(self.lan.score_activities(train), EVIDENCE_MIN_P)
        scored = surprise[~np.isnan(surprise)]
        self.rare_levels = np.quantile(scored, RARE_QUANTILES) if scored.size else np.zeros(len(RARE_QUANTILES))
        self._refit(self._features(train, surprise), y)
        self._select_rule(validation, validation_labels)
        return self

    def learn_new_users(self, seqs: SequenceSet, labels: np.ndarray) -> int:
        """The activity model's history only: the head, its rule and the references the rule
        ranks against were fixed on validation before."""
        return self.lan.learn_new_users(seqs, labels)

    def _refit(self, x: np.ndarray, y: np.ndarray) -> None:
        """Head and length baseline from the training matrix (at fit and again at load)."""
        self._x, self._y = x, y
        self.head = boosted_classifier(self.head_config).fit(x, y)
        self.length_knots = length_baseline(*self._length_and_top3(x))

    def score_sequences(self, seqs: SequenceSet) -> np.ndarray:
        if self.head is None:
            raise NotFittedError(self.name)
        if len(seqs) == 0:
            return np.zeros(0, dtype=np.float64)
        return self._combine(self._parts(self._features(seqs)), self.rule)

    def save(self, path: str | Path) -> None:
        if self._x is None or self._y is None:
            raise NotFittedError(self.name, "save")
        path = Path(path)
        self.lan.save(path / ACTIVITY_MODEL)
        write_manifest(
            path,
            self.name,
            {"head": self.head_config.to_dict(), "rare_quantiles": list(RARE_QUANTILES), **self.fit_summary()},
        )
        head_ref, evidence_ref = self.references
        np.savez_compressed(
            path / HEAD_ARRAYS,
            x=self._x,
            y=self._y,
            rare_levels=self.rare_levels,
            head_reference=head_ref,
            evidence_reference=evidence_ref,
        )

    @classmethod
    def load(cls, path: str | Path, device: str | None = None) -> LANPosthoc:
        path = Path(path)
        config = read_manifest(path, expect=cls.name)["config"]
        det = cls(LAN.load(path / ACTIVITY_MODEL, device=device))
        det.rule, det.validation_auc = config["rule"], config["validation_auc"]
        with np.load(path / HEAD_ARRAYS, allow_pickle=False) as z:
            det.rare_levels = z["rare_levels"]
            det.references = (z["head_reference"], z["evidence_reference"])
            det._refit(z["x"], z["y"])
        return det
