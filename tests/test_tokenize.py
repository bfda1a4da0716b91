"""Tokenizer values, unmapped actions, JSON round trips, and the label-blind repeat collapse."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import polars as pl
import pytest

from neighborwatch.data.schema import conform_events
from neighborwatch.sequences.tokenize import (
    WORDS,
    ActionHourTokenizer,
    Tokenizer,
    WordHourTokenizer,
    collapse_mask,
    collapse_offsets,
    make_tokenizer,
    tokenizer_from_json,
)
from neighborwatch.sequences.toy import token as toy_token


def ev(rows: list[tuple[str, str, datetime]]) -> pl.DataFrame:
    return conform_events(
        pl.DataFrame(
            {
                "event_id": [str(i) for i in range(len(rows))],
                "time": [t for *_, t in rows],
                "user": ["U"] * len(rows),
                "host": ["P"] * len(rows),
                "source": [s for s, _, _ in rows],
                "action": [a for _, a, _ in rows],
            }
        )
    )


CERT_EXAMPLES = [
    ("logon", "Logon", "Logon"),
    ("logon", "Logoff", "Logoff"),
    ("device", "Connect", "Connect"),
    ("device", "Disconnect", "Disconnect"),
    ("file", "File Open", "file"),
    ("file", "File Write", "file"),
    ("file", "File Copy", "file"),
    ("file", "File Delete", "file"),
    ("email", "Send", "email"),
    ("email", "View", "email"),
    ("http", "WWW Visit", "http"),
    ("http", "WWW Upload", "http"),
    ("http", "WWW Download", "http"),
]


@pytest.mark.parametrize("source,action,word", CERT_EXAMPLES)
def test_word_hour_token_of_each_word(source: str, action: str, word: str) -> None:
    tok = WordHourTokenizer()
    t = tok.transform(ev([(source, action, datetime(2010, 5, 3, 14, 59, 59))]))
    assert t.dtype == np.int32
    assert t.tolist() == [WORDS.index(word) * 24 + 14 + 1]
    assert tok.decode(int(t[0])) == (word, 14)


def test_word_hour_hour_boundaries_and_range() -> None:
    times = [
        datetime(2010, 1, 1, 0, 0, 0),
        datetime(2010, 1, 1, 0, 59, 59),
        datetime(2010, 1, 1, 1, 0, 0),
        datetime(2010, 1, 1, 23, 59, 59),
        datetime(2010, 1, 2, 0, 0, 0),
    ]
    got = WordHourTokenizer().transform(ev([("logon", "Logon", t) for t in times]))
    assert got.tolist() == [1, 1, 2, 24, 1]
    last = WordHourTokenizer().transform(ev([("http", "WWW Visit", datetime(2010, 1, 1, 23))]))
    assert last.tolist() == [168] and WordHourTokenizer().vocab_size == 169
    # the toy module's independent formula agrees
    assert (
        toy_token("Disconnect", 7)
        == WordHourTokenizer().transform(ev([("device", "Disconnect", datetime(2010, 1, 1, 7))]))[0]
    )


def test_word_hour_rejects_unmapped_actions_listing_them() -> None:
    bad = ev(
        [
            ("logon", "Logon", datetime(2010, 1, 1)),
            ("other", "door badge", datetime(2010, 1, 1)),
            ("logon", "Unlock", datetime(2010, 1, 1)),
            ("other", "door badge", datetime(2010, 1, 1)),
        ]
    )
    with pytest.raises(ValueError) as e:
        WordHourTokenizer().transform(bad)
    msg = str(e.value)
    assert "other/door badge" in msg and "logon/Unlock" in msg and "ActionHourTokenizer" in msg
    assert "3 event(s)" in msg and "2 source/action pair(s)" in msg
    assert "logon/Logon" not in msg.split(":")[1].split(".")[0]


def test_action_hour_vocabulary_from_training_and_unknown_word() -> None:
    train = ev(
        [
            ("other", "badge in", datetime(2010, 1, 1, 9)),
            ("vpn", "connect", datetime(2010, 1, 1, 10)),
            ("other", "badge in", datetime(2010, 1, 2, 9)),
        ]
    )
    tok = ActionHourTokenizer(min_count=1).fit(train)
    assert tok.pairs == [("other", "badge in"), ("vpn", "connect")]
    assert tok.vocab_size == 3 * 24 + 1
    later = ev(
        [
            ("vpn", "connect", datetime(2010, 3, 1, 0)),
            ("printer", "print", datetime(2010, 3, 1, 5)),
            ("other", "badge in", datetime(2010, 3, 1, 23)),
        ]
    )
    got = tok.transform(later)
    assert got.tolist() == [2 * 24 + 0 + 1, 0 * 24 + 5 + 1, 1 * 24 + 23 + 1]
    assert tok.decode(int(got[1])) == (ActionHourTokenizer.UNKNOWN, 5)
    assert tok.decode(int(got[0])) == ("vpn/connect", 0)


def test_action_hour_needs_fit() -> None:
    with pytest.raises(RuntimeError, match="not fitted"):
        ActionHourTokenizer().transform(ev([("a", "b", datetime(2010, 1, 1))]))


@pytest.mark.parametrize("tok", [WordHourTokenizer(), ActionHourTokenizer([("vpn", "connect"), ("x", "y")])])
def test_json_round_trip(tok: Tokenizer) -> None:
    import json

    obj = json.loads(json.dumps(tok.to_json()))
    back = tokenizer_from_json(obj)
    assert type(back) is type(tok) and back.vocab_size == tok.vocab_size
    assert isinstance(back, Tokenizer)
    e = (
        ev([("vpn", "connect", datetime(2010, 1, 1, 3))])
        if isinstance(tok, ActionHourTokenizer)
        else ev([("email", "Send", datetime(2010, 1, 1, 3))])
    )
    assert back.transform(e).tolist() == tok.transform(e).tolist()


def test_unknown_tokenizer_names_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown tokenizer"):
        make_tokenizer("bpe")
    with pytest.raises(ValueError, match="unknown tokenizer type"):
        tokenizer_from_json({"type": "bpe"})


# -- collapse -----------------------------------------------------------------------------------


def collapse(seqs: list[list[int]]) -> list[list[int]]:
    tokens = np.array([t for s in seqs for t in s], dtype=np.int32)
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in seqs])])
    keep = collapse_mask(tokens, offsets)
    new = collapse_offsets(keep, offsets)
    kept = tokens[keep]
    return [kept[new[i] : new[i + 1]].tolist() for i in range(len(seqs))]


def test_collapse_removes_runs_within_a_sequence_only() -> None:
    assert collapse([[5, 5, 5, 7, 7, 5], [5, 5], [], [9], [9, 8, 9, 9]]) == [[5, 7, 5], [5], [], [9], [9, 8, 9]]


def test_collapse_keeps_first_of_next_sequence_equal_to_last_of_previous() -> None:
    assert collapse([[3, 4], [4, 4, 4], [4]]) == [[3, 4], [4], [4]]


def test_collapse_matches_previous_kept_token_rule_and_takes_no_labels() -> None:
    """Reference loop of LAN.md §2.6 (drop a token equal to the previous KEPT token of the same
    sequence) against the vectorised mask; the mask's inputs are tokens and offsets only, so it
    cannot depend on labels (label-blindness end to end: test_build)."""
    import inspect

    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 4, size=300).astype(np.int32)
    offsets = np.array([0, 50, 120, 120, 121, 300])
    expected = np.zeros(len(tokens), bool)
    for s in range(len(offsets) - 1):
        prev = None
        for j in range(offsets[s], offsets[s + 1]):
            if tokens[j] != prev:
                expected[j] = True
                prev = tokens[j]
    assert np.array_equal(collapse_mask(tokens, offsets), expected)
    assert list(inspect.signature(collapse_mask).parameters) == ["tokens", "offsets"]
