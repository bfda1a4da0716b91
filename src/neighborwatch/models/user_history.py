"""What each user did in training: the acting user's own activity distribution.

The question an analyst asks first — has this user ever done this? — needs only counts:

    p(token | user) = (c(user, token) + m · p_all(token)) / (n(user) + m)

c and n count the user's raw TRAINING events (malicious ones left out when labels are given, as
every next-activity model trains on normal targets); p_all is the whole organisation's training
share of the token (add-½ smoothed), so a user with little or no history — a user held out for
validation, a new hire — is judged by the organisation's mix, and `m` pseudo-events set how
fast a user's own habits take over. Nothing here reads a label beyond that filter or any event
outside the training set, with one exception made after model selection (`with_new_users`).

Users held out for validation have no training events, so in the test period "first time for
this user" could not fire for them: on an r5.2 dev org a held-out insider's first thumb-drive
use after 259 sessions without one scored as ordinary (the token is common org-wide). Once
thresholds and every validation choice are fixed, the evaluation protocol therefore lets each
user the history has never seen count his labelled-normal validation events (a refit on
training + validation, as is usual after model selection; the malicious ones are left out by
the validation labels exactly as training's are by the training labels). Unlabelled events
cannot be used this way: a campaign that starts before the test cut would become its insider's
normal (measured: r5.2 dev org, user_novelty session AUC 0.958 → 0.919).

Two detectors use it: `user_novelty` scores −log p(token | user) alone, and LAN
(`user_history` option) combines it with its sequence prediction (`condition`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neighborwatch.sequences.base import SequenceSet

_ARRAYS = ("users", "codes", "counts", "user_totals", "token_counts")


def raw_events(seqs: SequenceSet, labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(user, token) of every raw event of `seqs` (start tokens are none), the malicious ones left
    out when per-position `labels` are given: what a history counts."""
    positions = seqs.raw_positions()
    if labels is not None:
        positions = positions[~np.asarray(labels, dtype=bool)[positions]]
    return seqs.position_users()[positions], seqs.tokens[positions]


@dataclass
class UserHistory:
    """Training counts: per user × token (sorted codes user_index · vocab + token), per user, per token."""

    users: np.ndarray  # str [U], sorted
    codes: np.ndarray  # int64 [K], sorted
    counts: np.ndarray  # int64 [K]
    user_totals: np.ndarray  # int64 [U]
    token_counts: np.ndarray  # int64 [vocab]

    @classmethod
    def fit(cls, train: SequenceSet, train_labels: np.ndarray | None = None) -> UserHistory:
        return cls.from_events(*raw_events(train, train_labels), int(train.vocab_size))

    @classmethod
    def from_events(
        cls, users_of: np.ndarray, tokens: np.ndarray, vocab_size: int, token_counts: np.ndarray | None = None
    ) -> UserHistory:
        """Counts of (user, token) events; the organisation's mix from the same events unless
        `token_counts` gives it (e.g. training's, when extra events join a user's own counts)."""
        tokens = np.asarray(tokens, dtype=np.int64)
        if tokens.size == 0:
            raise ValueError("user history: no training activities")
        users, user_idx = np.unique(np.asarray(users_of).astype(str), return_inverse=True)
        codes, counts = np.unique(user_idx.astype(np.int64) * vocab_size + tokens, return_counts=True)
        if token_counts is None:
            token_counts = np.bincount(tokens, minlength=vocab_size)
        return cls(
            users,
            codes,
            counts.astype(np.int64),
            np.bincount(user_idx, minlength=len(users)).astype(np.int64),
            np.asarray(token_counts, dtype=np.int64),
        )

    def with_new_users(self, seqs: SequenceSet, labels: np.ndarray | None) -> UserHistory:
        """This history plus the normal events (all, without `labels`) of `seqs`' users it has never
        seen (the users held out for validation); users it already knows, and the organisation's mix, stay as they are,
        so applying it twice adds nothing the second time."""
        users_of, tokens = raw_events(seqs, labels)
        _, known = self._user_index(users_of)
        if known.all():
            return self
        vocab = self.vocab_size
        new_users = np.asarray(users_of[~known]).astype(str)
        users = np.union1d(self.users, new_users)
        old = np.searchsorted(users, self.users)[self.codes // vocab] * vocab + self.codes % vocab
        new = np.searchsorted(users, new_users) * vocab + tokens[~known]
        codes, at = np.unique(np.concatenate([old, new]), return_inverse=True)
        counts = np.bincount(at, weights=np.concatenate([self.counts, np.ones(len(new))])).astype(np.int64)
        totals = np.bincount(codes // vocab, weights=counts, minlength=len(users)).astype(np.int64)
        return UserHistory(users, codes, counts, totals, self.token_counts)

    @property
    def vocab_size(self) -> int:
        return len(self.token_counts)

    def _shares(self) -> np.ndarray:
        return (self.token_counts + 0.5) / (self.token_counts.sum() + 0.5 * self.vocab_size)

    def _user_index(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row of each user in `self.users` and whether the user has a history at all."""
        users = np.asarray(users).astype(str)
        idx = np.searchsorted(self.users, users)
        known = (idx < len(self.users)) & (self.users[np.minimum(idx, len(self.users) - 1)] == users)
        return idx, known

    def surprisal(self, users: np.ndarray, tokens: np.ndarray, prior: float) -> np.ndarray:
        """−log p(token | user), one per (user, token) pair."""
        vocab = self.vocab_size
        tokens = np.asarray(tokens, dtype=np.int64)
        share = self._shares()[tokens]
        idx, known = self._user_index(users)
        c = np.zeros(len(tokens))
        n = np.zeros(len(tokens))
        if known.any() and len(self.codes):
            q = idx[known] * vocab + tokens[known]
            at = np.minimum(np.searchsorted(self.codes, q), len(self.codes) - 1)
            c[known] = np.where(self.codes[at] == q, self.counts[at], 0)
            n[known] = self.user_totals[idx[known]]
        return -np.log((c + prior * share) / (n + prior))

    def lift(self, users: np.ndarray, prior: float) -> np.ndarray:
        """float32 [n, vocab]: p(token | user) / p_all(token) for each user (1 where no history).

        A user's lift is prior / (n + prior) for every token the user never did, plus
        c / ((n + prior) · p_all) where the user has count c: one broadcast and one scatter of
        the batch's users' own entries, with no per-user loop (it runs on every live batch).
        """
        vocab = self.vocab_size
        idx, known = self._user_index(users)
        out = np.ones((len(idx), vocab), dtype=np.float32)
        if not known.any():
            return out
        at = np.flatnonzero(known)
        rows = idx[at]
        totals = self.user_totals[rows] + prior
        out[at] = (prior / totals)[:, None]
        first = np.searchsorted(self.codes, rows * vocab)
        lens = np.searchsorted(self.codes, (rows + 1) * vocab) - first
        which = np.repeat(np.arange(len(rows)), lens)
        entry = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens) + first[which]
        tokens = self.codes[entry] - rows[which] * vocab
        out[at[which], tokens] += self.counts[entry] / (totals[which] * self._shares()[tokens])
        return out

    def condition(self, probs: np.ndarray, users: np.ndarray, prior: float) -> np.ndarray:
        """A next-activity distribution told who acts: p(a | prefix, user) ∝ p(a | prefix) · lift_user(a).

        The naive-Bayes product of an organisation-wide sequence model and the user's own mix
        (prefix and user independent given the activity); rows of users without history are
        unchanged. float32 [n, vocab] in and out, so batch and live give the same numbers.
        """
        joint = np.asarray(probs, dtype=np.float32) * self.lift(users, prior)
        return joint / np.maximum(joint.sum(axis=1, keepdims=True), np.float32(1e-30))

    def save(self, path: str | Path) -> None:
        np.savez(Path(path), **{name: getattr(self, name) for name in _ARRAYS})

    @classmethod
    def load(cls, path: str | Path) -> UserHistory:
        with np.load(Path(path), allow_pickle=False) as z:
            return cls(*(z[name] for name in _ARRAYS))
