"""Per-sequence count features shared by the feature-based post-hoc baselines.

What an analyst would tabulate for a session or a user-day, from the activity tokens and their
times only (no labels, no raw log content): how many activities of each word (Logon, Connect,
file, e-mail, web, ...), their shares, activities per hour of day, length, duration,
after-hours share, distinct hours / words / tokens, first and last hour, weekday. Tokens are
decoded with the `word * 24 + hour + 1` layout every tokenizer of this package uses, so the same
function serves CERT and own-log vocabularies (the number of words follows `vocab_size`).
"""

from __future__ import annotations

import numpy as np

from neighborwatch.sequences.base import SequenceSet

HOURS = 24
OFFICE_START, OFFICE_END = 7, 19  # activity outside [7h, 19h) counts as after hours


def n_words(vocab_size: int) -> int:
    return max(1, (int(vocab_size) - 1) // HOURS)


def feature_names(vocab_size: int) -> list[str]:
    w = n_words(vocab_size)
    return (
        [f"count_word{i}" for i in range(w)]
        + [f"share_word{i}" for i in range(w)]
        + [f"count_hour{h}" for h in range(HOURS)]
        + [
            "length",
            "log_duration_min",
            "after_hours_share",
            "distinct_hours",
            "distinct_words",
            "distinct_tokens",
            "first_hour",
            "last_hour",
            "weekday",
            "weekend",
        ]
    )


def sequence_features(seqs: SequenceSet) -> np.ndarray:
    """float32 [n_sequences, n_features] (columns as `feature_names(seqs.vocab_size)`); the
    start-of-session token is not an activity, so it is dropped before counting."""
    seqs = seqs.without_start()
    n, w = len(seqs), n_words(seqs.vocab_size)
    lengths = seqs.lengths
    seq = seqs.seq_index()
    tok = seqs.tokens.astype(np.int64) - 1
    word = np.clip(tok // HOURS, 0, w - 1)
    hour = tok % HOURS

    word_counts = np.zeros((n, w), dtype=np.float64)
    np.add.at(word_counts, (seq, word), 1.0)
    hour_counts = np.zeros((n, HOURS), dtype=np.float64)
    np.add.at(hour_counts, (seq, hour), 1.0)
    safe_len = np.maximum(lengths, 1).astype(np.float64)

    after = ((hour < OFFICE_START) | (hour >= OFFICE_END)).astype(np.float64)
    after_share = np.bincount(seq, weights=after, minlength=n) / safe_len
    distinct_tokens = np.zeros(n)
    if seqs.n_activities:
        pairs = np.unique(seq * (int(seqs.vocab_size) + 1) + tok)
        distinct_tokens = np.bincount(pairs // (int(seqs.vocab_size) + 1), minlength=n).astype(np.float64)

    nonempty = lengths > 0
    first = np.where(nonempty, seqs.offsets[:-1], 0)
    last = np.where(nonempty, seqs.offsets[1:] - 1, 0)
    times = seqs.times if seqs.n_activities else np.zeros(1, dtype=np.int64)
    hours_all = hour if seqs.n_activities else np.zeros(1, dtype=np.int64)
    duration_min = np.where(nonempty, (times[last] - times[first]) / 60e6, 0.0)
    days = np.where(nonempty, times[first] // 86_400_000_000, 0)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    feats = np.column_stack(
        [
            word_counts,
            word_counts / safe_len[:, None],
            hour_counts,
            lengths,
            np.log1p(np.maximum(duration_min, 0.0)),
            after_share,
            (hour_counts > 0).sum(1),
            (word_counts > 0).sum(1),
            distinct_tokens,
            np.where(nonempty, hours_all[first], 0),
            np.where(nonempty, hours_all[last], 0),
            weekday,
            (weekday >= 5).astype(np.float64),
        ]
    )
    return feats.astype(np.float32)
