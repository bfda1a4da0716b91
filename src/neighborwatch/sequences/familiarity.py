"""Familiarity: how often a user, and the user's peers, did each activity during TRAINING.

Before anything else an analyst asks of an alert: has this user ever done this, and do people in
the same job do it? (Sentinel UEBA's "first time", Exabeam's "abnormal for peer group".) The
profile answers both, with the numbers, and the live engine adds what it has seen since
(`LiveCounts`), so "first time" stays true to the user's whole history.

* Built label-blind from the TRAINING split of the WORK's sequences only (never validation or
  test, never labels.parquet) and from the organisation table (`WorkDir.users`, LDAP).
* Keyed by the sequences' own tokens (the WORK's tokenizer: paper word-hour or context tokens),
  i.e. the token the live engine computes for the same event (stream = batch). BOS positions are
  no activity and are left out; a collapsed repeat counts, so counts are raw events.
* Days are calendar days of event time (UTC microseconds // 86 400 s).
* Peer group: the user's LDAP `role`, else `department`, else `team`; users outside the table
  form one group, "all users" (the whole organisation's training users). Where the source has no
  LDAP at all, peers are users who do the same things: k-means over each user's training
  activity mix (`activity_clusters`, about `USERS_PER_CLUSTER` users a group; one group below
  twice that). Peers of a user are the OTHER training users of the group.
* Under held-out-user validation the held-out users' pre-test days are validation data, so they
  have no training history here. Once every validation choice is made, `with_new_users` gives
  each of them his normal validation events (the validation labels leave the malicious ones out)
  as his history, as the model's per-user counts get them (`Detector.learn_new_users`; the
  engine does both in `streaming.loader.build_engine`): the test period's "first time" then
  means first since his logs began, not first since the engine started. Their `history` says
  `validation`; they are nobody's peer (peers stay the training users, as the organisation's
  mix stays training's in the model).

Saved as `familiarity/` beside a trained model (three small Parquet tables + a JSON manifest);
a model folder without it (older models) simply gets no familiarity reasons.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.sequences.base import SequenceSet
from neighborwatch.sequences.build import load_sequences
from neighborwatch.sequences.peers import (
    ALL_USERS,
    CLUSTER,
    PEER_ATTRIBUTES,
    USERS_PER_CLUSTER,
    raw_event_frame,
    read_organisation,
    training_events,
    user_groups,
)
from neighborwatch.workdir import WorkDir, write_json

US = 1_000_000
DAY_US = 86_400 * US
RARE_PEER_SHARE = 0.05  # default: "rare among peers" when at most 5 % of the peers ever did it
FOLDER = "familiarity"
TABLES = ("users", "user_tokens", "peer_tokens")
#: the `history` of a user the training split holds (days > 0), else none
TRAINING_HISTORY = pl.when(pl.col("days") > 0).then(pl.lit("training")).otherwise(pl.lit(None, pl.Utf8))


def tokenizer_fingerprint(tokenizer_json: dict[str, Any] | None) -> str | None:
    """A short hash of a tokenizer's JSON: the profile is only valid for the tokens it was built with."""
    if tokenizer_json is None:
        return None
    return hashlib.sha256(json.dumps(tokenizer_json, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class FamiliarityProfile:
    """Per user and per peer group, how often and on how many days each token was seen in training.

    users: user, group, days (days with any activity in the user's history; 0 for users known
        only from LDAP), last_us (time of the user's last history event; null without one),
        history (`training`, `validation` for a held-out user learned by `with_new_users`, or null)
    user_tokens: user, token, count, days
    peer_tokens: group, token, count, user_days (sum over users of their days), users (who did it)
    """

    users: pl.DataFrame
    user_tokens: pl.DataFrame
    peer_tokens: pl.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if "history" not in self.users.columns:  # a profile saved before held-out users were learned
            self.users = self.users.with_columns(history=TRAINING_HISTORY)
        # lookups: sorted int64 keys (index * base + token) → row, so millions of rows stay arrays
        self._user_idx = {u: i for i, u in enumerate(self.users["user"].to_list())}
        self._group_of = self.users["group"].to_list()
        self._history_days = self.users["days"].to_list()
        self._history_end = self.users["last_us"].to_list()
        self._history = self.users["history"].to_list()
        groups = sorted(set(self._group_of) | set(self.peer_tokens["group"].to_list()) | {ALL_USERS})
        self._group_idx = {g: i for i, g in enumerate(groups)}
        trained = self.users.filter(pl.col("history") == "training")
        self._group_size = dict(trained.group_by("group").len().iter_rows())
        self._group_size[ALL_USERS] = trained.height
        tokens = np.concatenate([self.user_tokens["token"].to_numpy(), self.peer_tokens["token"].to_numpy(), [0]])
        self._base = int(tokens.max()) + 1

        def index(frame: pl.DataFrame, col: str, idx: dict[str, int], values: tuple[str, ...]) -> tuple:
            owner = np.array([idx[v] for v in frame[col].to_list()], dtype=np.int64)
            keys = owner * self._base + frame["token"].to_numpy().astype(np.int64)
            order = np.argsort(keys, kind="stable")
            return keys[order], {v: frame[v].to_numpy()[order] for v in values}

        self._ukeys, self._uvals = index(self.user_tokens, "user", self._user_idx, ("count", "days"))
        self._pkeys, self._pvals = index(self.peer_tokens, "group", self._group_idx, ("count", "user_days", "users"))

    # -- building ----------------------------------------------------------------------------
    @classmethod
    def build(cls, seqs: SequenceSet, org: pl.DataFrame | None = None, seed: int = 0) -> FamiliarityProfile:
        """The profile of the TRAINING split of `seqs` (whatever other splits it holds are ignored);
        `seed` fixes the activity-profile clusters (used only without an organisation table)."""
        events = training_events(seqs).with_columns(day=pl.col("time") // DAY_US)
        user_tokens = (
            events.group_by("user", "token")
            .agg(count=pl.len().cast(pl.Int64), days=pl.col("day").n_unique().cast(pl.Int32))
            .sort("user", "token")
        )
        trained = events.group_by("user").agg(
            days=pl.col("day").n_unique().cast(pl.Int32), last_us=pl.col("time").max()
        )
        groups, clustered = user_groups(user_tokens, org, seed)
        table = (
            trained.join(groups, on="user", how="full", coalesce=True)
            .with_columns(
                pl.col("group").fill_null(ALL_USERS),
                pl.col("days").fill_null(0),
                history=TRAINING_HISTORY,
            )
            .select("user", "group", "days", "last_us", "history")
            .sort("user")
        )
        per_group = user_tokens.join(table.select("user", "group"), on="user", how="left")
        agg = {"count": pl.col("count").sum(), "user_days": pl.col("days").sum().cast(pl.Int64), "users": pl.len()}
        peer_tokens = pl.concat(
            [
                per_group.filter(pl.col("group") != ALL_USERS).group_by("group", "token").agg(**agg),
                per_group.group_by("token").agg(**agg).with_columns(group=pl.lit(ALL_USERS)),
            ],
            how="diagonal",
        ).select("group", "token", "count", "user_days", pl.col("users").cast(pl.Int32))
        tok_json = seqs.extra.get("tokenizer")
        meta = {
            "built_from": f"{seqs.kind} sequences, training split only",
            "training_events": events.height,
            "training_users": trained.height,
            "peer_rule": (
                f"{CLUSTER} clusters (k-means, {USERS_PER_CLUSTER} users a group)"
                if clustered
                else " > ".join(PEER_ATTRIBUTES)
            )
            + f" > {ALL_USERS!r}",
            "organisation_users": 0 if clustered else groups.height,
            "tokenizer": tokenizer_fingerprint(tok_json),
            "vocab_size": int(seqs.vocab_size),
        }
        return cls(table, user_tokens, peer_tokens.sort("group", "token"), meta)

    def with_new_users(self, seqs: SequenceSet, labels: np.ndarray | None) -> FamiliarityProfile:
        """This profile plus the normal events (all, without per-position `labels`) of `seqs`' users
        it holds no history for (the users held out for validation); users with a history, and
        every peer count, stay as they are, so applying it twice adds nothing the second time."""
        known = set(self.users.filter(pl.col("days") > 0)["user"].to_list())
        events = raw_event_frame(seqs, labels).filter(pl.col("user").is_not_null() & ~pl.col("user").is_in(known))
        if not events.height:
            return self
        events = events.with_columns(day=pl.col("time") // DAY_US)
        new_tokens = events.group_by("user", "token").agg(
            count=pl.len().cast(pl.Int64), days=pl.col("day").n_unique().cast(pl.Int32)
        )
        learned = events.group_by("user").agg(
            days=pl.col("day").n_unique().cast(pl.Int32), last_us=pl.col("time").max(), history=pl.lit("validation")
        )
        groups = self.users.select("user", "group")
        users = pl.concat(
            [
                self.users.join(learned, on="user", how="anti"),
                learned.join(groups, on="user", how="left").with_columns(pl.col("group").fill_null(ALL_USERS)),
            ],
            how="diagonal",
        ).select(self.users.columns)
        user_tokens = pl.concat([self.user_tokens, new_tokens.select(self.user_tokens.columns)])
        meta = {
            **self.meta,
            "validation_users_learned": int(self.meta.get("validation_users_learned", 0)) + learned.height,
        }
        return FamiliarityProfile(users.sort("user"), user_tokens.sort("user", "token"), self.peer_tokens, meta)

    # -- storage -----------------------------------------------------------------------------
    def save(self, model_dir: str | Path) -> Path:
        d = Path(model_dir) / FOLDER
        d.mkdir(parents=True, exist_ok=True)
        for name in TABLES:
            getattr(self, name).write_parquet(d / f"{name}.parquet")
        write_json(d / "familiarity.json", self.meta)
        return d

    @classmethod
    def load(cls, model_dir: str | Path) -> FamiliarityProfile | None:
        """The profile saved with a model, or None for a model folder without one."""
        d = Path(model_dir) / FOLDER
        if not (d / "familiarity.json").exists():
            return None
        users, user_tokens, peer_tokens = (pl.read_parquet(d / f"{n}.parquet") for n in TABLES)
        return cls(users, user_tokens, peer_tokens, json.loads((d / "familiarity.json").read_text()))

    # -- asking ------------------------------------------------------------------------------
    def after_training(self, user: str, time_us: int) -> bool:
        """Whether a live event is news to the profile: later than the user's last training event
        (a replay of the training period is not counted twice)."""
        u = self._user_idx.get(user)
        end = self._history_end[u] if u is not None else None
        return end is None or time_us > end

    def _find(self, keys: np.ndarray, key: int) -> int:
        i = int(np.searchsorted(keys, key))
        return i if i < len(keys) and keys[i] == key else -1

    def describe(
        self, user: str, token: int, live: tuple[int, int] = (0, 0), rare_share: float = RARE_PEER_SHARE
    ) -> dict[str, Any]:
        """The familiarity reason of `user` doing `token`, before this occurrence: training counts +
        `live` (count, days) seen since, and how many of the user's peers ever did it in training."""
        token = int(token)
        u = self._user_idx.get(user)
        group = self._group_of[u] if u is not None else ALL_USERS
        history_days = int(self._history_days[u]) if u is not None else 0
        count = days = 0
        if u is not None and 0 <= token < self._base:
            r = self._find(self._ukeys, u * self._base + token)
            if r >= 0:
                count, days = int(self._uvals["count"][r]), int(self._uvals["days"][r])
        with_it = 0
        if 0 <= token < self._base:
            r = self._find(self._pkeys, self._group_idx[group] * self._base + token)
            with_it = int(self._pvals["users"][r]) if r >= 0 else 0
        peers = self._group_size.get(group, 0)
        if u is not None and self._history[u] == "training":  # one of the group's peers: the others are his
            peers -= 1
            with_it -= count > 0
        share = with_it / peers if peers else None
        return {
            "user_count": count + int(live[0]),
            "user_days": days + int(live[1]),
            "training_count": count,
            "live_count": int(live[0]),
            "user_training_days": history_days,
            "history": self._history[u] if u is not None else None,
            "first_time_for_user": count + int(live[0]) == 0,
            "peer_group": group,
            "peer_users_with_it": with_it,
            "peer_users": peers,
            "peer_share": None if share is None else round(share, 4),
            "rare_among_peers": None if share is None else share <= rare_share,
            "rare_threshold": rare_share,
        }


def phrase(reason: dict[str, Any]) -> str:
    """The familiarity reason in an analyst's words, e.g. 'first time for this user; 1 of 23
    peers (role Salesman) ever did it'."""
    if reason["first_time_for_user"]:
        user = "first time for this user" + ("" if reason["user_training_days"] else " (no training history)")
    else:
        user = f"this user: {_times(reason['user_count'], 'time')} on {_times(reason['user_days'], 'day')}"
    group = str(reason["peer_group"]).replace("=", " ", 1)
    if not reason["peer_users"]:
        return f"{user}; no peers ({group}) to compare with"
    peers = f"{reason['peer_users_with_it']} of {reason['peer_users']} peers ({group}) ever did it"
    return f"{user}; {'rare among peers: ' if reason['rare_among_peers'] else ''}{peers}"


def _times(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


class LiveCounts:
    """What the live engine has seen per user since training: token → [count, days, last day].

    Per-user engine state like risk: snapshotted with it, and forgotten when the user has been idle
    `idle_user_s` (then only the training profile remembers the user)."""

    def __init__(self) -> None:
        self.users: dict[str, dict[int, list[int]]] = {}
        self.last_us: dict[str, int] = {}

    def add(self, user: str, token: int, time_us: int) -> None:
        day = int(time_us) // DAY_US
        seen = self.users.setdefault(user, {})
        self.last_us[user] = max(self.last_us.get(user, time_us), time_us)
        c = seen.get(token)
        if c is None:
            seen[token] = [1, 1, day]
        else:
            c[0] += 1
            if day > c[2]:  # events arrive in time order (a late one from an earlier day adds no day)
                c[1], c[2] = c[1] + 1, day

    def get(self, user: str, token: int) -> tuple[int, int]:
        c = self.users.get(user, {}).get(token)
        return (c[0], c[1]) if c is not None else (0, 0)

    def forget_idle(self, before_us: int) -> list[str]:
        """Drop users whose last activity is older than `before_us`; returns their names."""
        gone = [u for u, t in self.last_us.items() if t < before_us]
        for u in gone:
            del self.users[u], self.last_us[u]
        return gone

    def to_json(self) -> dict[str, Any]:
        return {
            u: {"last_us": self.last_us[u], "tokens": [[t, *c] for t, c in seen.items()]}
            for u, seen in self.users.items()
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any] | None) -> LiveCounts:
        out = cls()
        for u, d in (obj or {}).items():
            out.users[u] = {int(r[0]): [int(r[1]), int(r[2]), int(r[3])] for r in d["tokens"]}
            out.last_us[u] = int(d["last_us"])
        return out


def build_familiarity(work: WorkDir | str | Path, seqs: SequenceSet | None = None) -> FamiliarityProfile:
    """The profile of a WORK folder: its sequences' training split + its organisation table."""
    wd = work if isinstance(work, WorkDir) else WorkDir(work)
    return FamiliarityProfile.build(seqs if seqs is not None else load_sequences(wd, "session"), read_organisation(wd))
