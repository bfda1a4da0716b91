"""Events → integer activity tokens, and the label-blind repeat collapse (LAN.md §2.2-2.3, §2.6).

A tokenizer maps each event (its `source`, `action` and `time`) to one int32 token; 0 is
padding and never produced. Tokenizers are pluggable (the `Tokenizer` protocol) so that richer
vocabularies can come later without touching sessionization, splits or samples:

* `WordHourTokenizer` — the paper's: 7 activity words × 24 hours + padding = 169 classes,
  `token = word * 24 + hour + 1`. It refuses events it has no word for (own logs) with an
  error listing them, rather than silently inventing a word.
* `ActionHourTokenizer` — for own logs: one word per (source, action) pair seen while fitting
  on the TRAINING period, plus word 0 = "unknown" for pairs first seen later (so that a new kind
  of action in the test period or the live stream still gets a token, and a telling one). The
  vocabulary is bounded: pairs seen fewer than `min_count` times in training, and all but the
  `max_words` most frequent, are folded into the unknown word too (a word with a handful of
  training examples teaches the model nothing but costs 24 output classes); the cut-off and what
  it folded are saved with the tokenizer, i.e. in the WORK's config.json.

Both compute hours from the naive event timestamp (the log's local clock, as CERT ships it).
Tokenizers are saved as JSON (`to_json` / `tokenizer_from_json`), never pickled.

Start of session (`bos_token`, `prepend_start`): every built sequence begins with one BOS token,
the class right after the tokenizer's last one, so that next-activity models score the first
real activity of a session too (from the context "a session starts here") instead of leaving it
unscored. BOS is input only: it stands for no event and is never a metric item.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np
import polars as pl

from neighborwatch.sequences.context_tokens import ContextTokenizer

HOURS = 24
PAD = 0

#: the paper's vocabulary, in its index order
WORDS: tuple[str, ...] = ("Logon", "Logoff", "Connect", "Disconnect", "file", "email", "http")

_KEY_SEP = "\x1f"  # joins source and action into one hashable key; never appears in log text


@runtime_checkable
class Tokenizer(Protocol):
    """What sessionization and the detectors need from a tokenizer."""

    name: ClassVar[str]

    @property
    def vocab_size(self) -> int:
        """Number of classes including padding 0."""
        ...

    def fit(self, events: pl.DataFrame, profile_events: pl.DataFrame | None = None) -> Tokenizer:
        """Learn the vocabulary from (training-period) events; returns self. `profile_events`
        (default `events`): the label-free events a tokenizer with per-user facts (own host,
        habits) learns those from; tokenizers without such facts ignore them."""
        ...

    def transform(self, events: pl.DataFrame) -> np.ndarray:
        """int32 token per event row (never 0)."""
        ...

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Tokenizer: ...


def _key(source: pl.Expr, action: pl.Expr) -> pl.Expr:
    return pl.concat_str([source, action], separator=_KEY_SEP)


def _hour(events: pl.DataFrame) -> np.ndarray:
    if events["time"].null_count():
        raise ValueError(f"{events['time'].null_count()} events have no time; cannot tokenize them")
    return events.select(pl.col("time").dt.hour().cast(pl.Int32)).to_series().to_numpy()


def _pairs(events: pl.DataFrame) -> list[tuple[str | None, str | None]]:
    """Distinct (source, action) pairs, sorted, for vocabularies and error messages."""
    u = events.select("source", "action").unique()
    return sorted(u.iter_rows(), key=lambda p: (str(p[0]), str(p[1])))


def word_of(source: str | None, action: str | None) -> int | None:
    """The paper's word index of one (source, action), or None when it has none."""
    if source == "logon" and action in ("Logon", "Logoff"):
        return WORDS.index(action)
    if source == "device" and action in ("Connect", "Disconnect"):
        return WORDS.index(action)
    if source in ("file", "email", "http"):
        return WORDS.index(source)
    return None


class WordHourTokenizer:
    """The paper's 7 words × 24 hours (+ padding 0): `token = word * 24 + hour + 1`."""

    name: ClassVar[str] = "word-hour"
    fitted: ClassVar[bool] = True  # fixed vocabulary: nothing to learn

    @property
    def vocab_size(self) -> int:
        return len(WORDS) * HOURS + 1

    def fit(self, events: pl.DataFrame, profile_events: pl.DataFrame | None = None) -> WordHourTokenizer:
        return self  # fixed vocabulary

    def words(self, events: pl.DataFrame) -> np.ndarray:
        """Word index per event; raises listing every (source, action) that maps to no word."""
        src, act = pl.col("source"), pl.col("action")
        expr = (
            pl.when((src == "logon") & (act == "Logon"))
            .then(WORDS.index("Logon"))
            .when((src == "logon") & (act == "Logoff"))
            .then(WORDS.index("Logoff"))
            .when((src == "device") & (act == "Connect"))
            .then(WORDS.index("Connect"))
            .when((src == "device") & (act == "Disconnect"))
            .then(WORDS.index("Disconnect"))
            .when(src == "file")
            .then(WORDS.index("file"))
            .when(src == "email")
            .then(WORDS.index("email"))
            .when(src == "http")
            .then(WORDS.index("http"))
            .otherwise(None)
            .cast(pl.Int32)
        )
        words = events.select(expr.alias("word")).to_series()
        if words.null_count():
            unmapped = [p for p in _pairs(events) if word_of(*p) is None]
            shown = ", ".join(f"{s}/{a}" for s, a in unmapped[:20])
            more = f" (and {len(unmapped) - 20} more)" if len(unmapped) > 20 else ""
            raise ValueError(
                f"WordHourTokenizer has no word for {words.null_count()} event(s) with "
                f"{len(unmapped)} source/action pair(s): {shown}{more}. It knows only logon/Logon, "
                "logon/Logoff, device/Connect, device/Disconnect and any file/email/http action "
                "(CERT); use ActionHourTokenizer for other logs."
            )
        return words.to_numpy()

    def transform(self, events: pl.DataFrame) -> np.ndarray:
        return (self.words(events) * HOURS + _hour(events) + 1).astype(np.int32)

    def decode(self, token: int) -> tuple[str, int]:
        """(word, hour) of a token, for explanations."""
        if not 1 <= token < self.vocab_size:
            raise ValueError(f"token {token} is outside 1..{self.vocab_size - 1}")
        return WORDS[(token - 1) // HOURS], (token - 1) % HOURS

    def to_json(self) -> dict[str, Any]:
        return {"type": self.name, "words": list(WORDS), "hours": HOURS}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> WordHourTokenizer:
        if obj.get("type") != cls.name or list(obj.get("words", WORDS)) != list(WORDS):
            raise ValueError(f"not a {cls.name} tokenizer: {obj}")
        return cls()


class ActionHourTokenizer:
    """One word per (source, action) seen in training, word 0 = unknown or rare; × 24 hours + padding."""

    name: ClassVar[str] = "action-hour"
    UNKNOWN = "<unknown>"
    MIN_COUNT = 2
    MAX_WORDS = 1000

    def __init__(
        self, pairs: list[tuple[str, str]] | None = None, min_count: int = MIN_COUNT, max_words: int = MAX_WORDS
    ) -> None:
        if min_count < 1 or max_words < 1:
            raise ValueError("ActionHourTokenizer needs min_count >= 1 and max_words >= 1")
        self.pairs: list[tuple[str, str]] | None = [(a, b) for a, b in pairs] if pairs is not None else None
        self.min_count, self.max_words = min_count, max_words
        self.folded: dict[str, Any] = {"pairs": 0, "events": 0, "examples": []}

    @property
    def fitted(self) -> bool:
        return self.pairs is not None

    @property
    def vocab_size(self) -> int:
        self._require_fit()
        return (len(self.pairs) + 1) * HOURS + 1  # type: ignore[arg-type]

    def _require_fit(self) -> None:
        if self.pairs is None:
            raise RuntimeError("ActionHourTokenizer is not fitted; call fit(training events) first")

    def fit(self, events: pl.DataFrame, profile_events: pl.DataFrame | None = None) -> ActionHourTokenizer:
        counts = (
            events.select(pl.col("source").cast(pl.Utf8), pl.col("action").cast(pl.Utf8))
            .drop_nulls()
            .group_by("source", "action")
            .len()
            .sort(["len", "source", "action"], descending=[True, False, False])
        )
        if counts.height == 0:
            raise ValueError("cannot fit ActionHourTokenizer on events without any source/action")
        kept = counts.filter(pl.col("len") >= self.min_count).head(self.max_words)
        if kept.height == 0:  # a tiny training period: keep the most frequent pair rather than nothing
            kept = counts.head(1)
        folded = counts.join(kept, on=["source", "action"], how="anti")
        self.pairs = sorted(zip(kept["source"].to_list(), kept["action"].to_list()))
        self.folded = {
            "pairs": folded.height,
            "events": int(folded["len"].sum()),
            "examples": [f"{s}/{a}" for s, a in zip(folded["source"].head(10), folded["action"].head(10))],
        }
        return self

    def words(self, events: pl.DataFrame) -> np.ndarray:
        self._require_fit()
        mapping = {f"{s}{_KEY_SEP}{a}": i + 1 for i, (s, a) in enumerate(self.pairs)}  # type: ignore[arg-type]
        return (
            events.select(
                _key(pl.col("source"), pl.col("action")).replace_strict(mapping, default=0, return_dtype=pl.Int32)
            )
            .to_series()
            .to_numpy()
        )

    def transform(self, events: pl.DataFrame) -> np.ndarray:
        return (self.words(events) * HOURS + _hour(events) + 1).astype(np.int32)

    def decode(self, token: int) -> tuple[str, int]:
        if not 1 <= token < self.vocab_size:
            raise ValueError(f"token {token} is outside 1..{self.vocab_size - 1}")
        w = (token - 1) // HOURS
        word = self.UNKNOWN if w == 0 else "/".join(self.pairs[w - 1])  # type: ignore[index]
        return word, (token - 1) % HOURS

    def to_json(self) -> dict[str, Any]:
        self._require_fit()
        assert self.pairs is not None  # set by fit
        return {
            "type": self.name,
            "pairs": [list(p) for p in self.pairs],
            "hours": HOURS,
            "min_count": self.min_count,
            "max_words": self.max_words,
            "folded": self.folded,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> ActionHourTokenizer:
        if obj.get("type") != cls.name or "pairs" not in obj:
            raise ValueError(f"not a {cls.name} tokenizer: {obj}")
        tok = cls(
            [tuple(p) for p in obj["pairs"]],
            int(obj.get("min_count", cls.MIN_COUNT)),
            int(obj.get("max_words", cls.MAX_WORDS)),
        )
        tok.folded = obj.get("folded", tok.folded)
        return tok


TOKENIZERS: dict[str, type[Tokenizer]] = {
    WordHourTokenizer.name: WordHourTokenizer,
    ActionHourTokenizer.name: ActionHourTokenizer,
}
TOKENIZERS[ContextTokenizer.name] = ContextTokenizer  # context: sequences.context_tokens


def make_tokenizer(name: str) -> Tokenizer:
    """A fresh (unfitted) tokenizer by name: 'word-hour', 'action-hour' or 'context'."""
    if name not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer {name!r}; choose one of {sorted(TOKENIZERS)}")
    return TOKENIZERS[name]()


def extra_columns(tokenizer: Tokenizer | str | None) -> tuple[str, ...]:
    """Event detail columns a tokenizer (instance or name) reads besides time/user/host/source/action."""
    kind = TOKENIZERS.get(tokenizer) if isinstance(tokenizer, str) else tokenizer
    return tuple(getattr(kind, "extra_columns", ()))


def tokenizer_from_json(obj: dict[str, Any]) -> Tokenizer:
    kind = obj.get("type")
    if kind not in TOKENIZERS:
        raise ValueError(f"unknown tokenizer type {kind!r}; known: {sorted(TOKENIZERS)}")
    return TOKENIZERS[kind].from_json(obj)


def collapse_mask(tokens: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Positions kept by the repeat collapse: the first of each sequence, and every token that
    differs from the one before it in the same sequence.

    Dropping a token equal to the previous KEPT token is the same as dropping one equal to the
    previous token: a dropped token equals the kept one before it. The mask reads tokens only,
    never labels (the reference keeps malicious repeats — a label leak we do not copy).
    """
    tokens = np.asarray(tokens)
    offsets = np.asarray(offsets, dtype=np.int64)
    keep = np.ones(len(tokens), dtype=bool)
    if len(tokens) > 1:
        keep[1:] = tokens[1:] != tokens[:-1]
    starts = offsets[:-1][np.diff(offsets) > 0]
    keep[starts] = True
    return keep


def collapse_offsets(keep: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Offsets of the sequences after keeping only `keep` positions."""
    kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
    return kept_before[np.asarray(offsets, dtype=np.int64)]


def bos_token(tokenizer_vocab_size: int) -> int:
    """The start-of-session token for a tokenizer with `tokenizer_vocab_size` classes: one more
    class, so a BOS-prefixed sequence set has `tokenizer_vocab_size + 1` classes."""
    return int(tokenizer_vocab_size)


def prepend_start(offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(new offsets, flat index of each old position) after inserting one position in front of
    every sequence; the inserted positions are `new_offsets[:-1]`."""
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = np.diff(offsets)
    new_offsets = offsets + np.arange(len(offsets), dtype=np.int64)
    seq = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    return new_offsets, np.arange(int(offsets[-1]), dtype=np.int64) + seq + 1
