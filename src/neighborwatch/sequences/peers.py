"""Peers: who a user's peers are, and the start-of-session token that names them.

* `peer_groups`: the organisation table's (LDAP) `role`, else `department`, else `team`; users
  outside the table belong to "all users".
* `activity_clusters`: where no organisation table exists, peers are users who do the same
  things (k-means over each user's TRAINING activity mix).
* `StartGroups`: with `prepare --start-token peer`, every sequence starts with the token of the
  acting user's peer group instead of one plain start-of-session token, so that every sequence
  model (LAN and each baseline alike) conditions on who acts through its first input: the
  group's embedding. Start tokens are the top classes of the vocabulary: `bos` (the plain one,
  also "unknown group": a user without a group that training saw) and `bos + 1 ..` one per group
  with at least one training user. A user never seen in training but named by the organisation
  table gets the role's token; one named by nothing gets `bos`. Fitted label-blind from the
  training split and the organisation table only; the live engine asks the same mapping.
  Off by default: on the two real-insider dev orgs (LAN, 3 seeds, paired on the same events) the
  role tokens moved real-time AUC by +0.009 (r4.2) and −0.030 (r5.2, lower on every seed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.sequences.base import SequenceSet
from neighborwatch.workdir import WorkDir

ALL_USERS = "all users"
PEER_ATTRIBUTES = ("role", "department", "team")  # the first one the user has names the group
USERS_PER_CLUSTER = 20  # activity-profile peer groups (no LDAP): about this many users each
CLUSTER = "activity profile"  # their group names: 'activity profile=1', ...
START_TOKENS = ("plain", "peer")  # `prepare --start-token`
UNKNOWN_GROUP = "unknown"


def peer_groups(org: pl.DataFrame | None) -> pl.DataFrame:
    """(user, group) for every user of the organisation table: 'role=X', else 'department=X', else
    'team=X', else 'all users'."""
    if org is None or org.height == 0:
        return pl.DataFrame(schema={"user": pl.Utf8, "group": pl.Utf8})
    attrs = [a for a in PEER_ATTRIBUTES if a in org.columns]
    keys = [
        pl.when(pl.col(a).cast(pl.Utf8).str.strip_chars() != "").then(pl.lit(f"{a}=") + pl.col(a).cast(pl.Utf8))
        for a in attrs
    ]
    return org.select(pl.col("user").cast(pl.Utf8), pl.coalesce([*keys, pl.lit(ALL_USERS)]).alias("group")).unique(
        "user", keep="first"
    )


def activity_clusters(user_tokens: pl.DataFrame, seed: int = 0) -> pl.DataFrame:
    """(user, group) from what users do, where no organisation table names peers.

    Each user's training events become their share per token; the square roots of the shares are
    clustered by k-means (Euclidean distance between them is the Hellinger distance of the two
    activity mixes, so a busy user and a quiet one who do the same things are peers). k = users /
    `USERS_PER_CLUSTER`; with fewer than two groups' worth of users every user stays in 'all users'.
    Groups are numbered in the order of their first user's name, so the names do not depend on
    k-means' label order.
    """
    users = user_tokens["user"].unique().sort().to_list()
    k = len(users) // USERS_PER_CLUSTER
    if k < 2:
        return pl.DataFrame(schema={"user": pl.Utf8, "group": pl.Utf8})
    from sklearn.cluster import KMeans

    row = {u: i for i, u in enumerate(users)}
    tokens = user_tokens["token"].to_numpy()
    x = np.zeros((len(users), int(tokens.max()) + 1))
    x[[row[u] for u in user_tokens["user"].to_list()], tokens] = user_tokens["count"].to_numpy()
    x = np.sqrt(x / x.sum(axis=1, keepdims=True))
    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
    first: dict[int, int] = {}
    for label in labels.tolist():  # users are sorted: the first seen is the first name
        first.setdefault(label, len(first) + 1)
    return pl.DataFrame({"user": users, "group": [f"{CLUSTER}={first[lab]}" for lab in labels.tolist()]})


def read_organisation(work: WorkDir | str | Path) -> pl.DataFrame | None:
    """The WORK's organisation table (written by `prepare` from LDAP), or None when it has none."""
    path = (work if isinstance(work, WorkDir) else WorkDir(work)).users
    if not path.exists():
        return None
    cols = pl.read_parquet_schema(path)
    return pl.read_parquet(path, columns=[c for c in ("user", *PEER_ATTRIBUTES) if c in cols])


def training_events(seqs: SequenceSet) -> pl.DataFrame:
    """(user, token, time) of every raw event of the TRAINING split of `seqs` (start tokens are
    no event; a collapsed repeat counts)."""
    return raw_event_frame(seqs.split("train") if "split" in seqs.meta.columns else seqs)


def raw_event_frame(seqs: SequenceSet, labels: np.ndarray | None = None) -> pl.DataFrame:
    """(user, token, time) of every raw event of `seqs`, the malicious ones left out when
    per-position `labels` are given (a collapsed repeat counts, start tokens are no event)."""
    keep = slice(None) if labels is None else ~np.asarray(labels, dtype=bool)[seqs.raw_positions()]
    users = seqs.meta["user"].cast(pl.Utf8).to_numpy()[seqs.raw_seq_index()]
    return pl.DataFrame(
        {
            "user": pl.Series(users[keep], dtype=pl.Utf8),
            "token": seqs.tokens[seqs.raw_positions()[keep]].astype(np.int32),
            "time": seqs.raw_event_times()[keep],
        }
    )


def user_groups(user_tokens: pl.DataFrame, org: pl.DataFrame | None, seed: int = 0) -> tuple[pl.DataFrame, bool]:
    """((user, group), clustered): the organisation table's groups, or — without one — activity
    clusters of the training users (`clustered` True)."""
    groups = peer_groups(org)
    if groups.height:
        return groups, False
    return activity_clusters(user_tokens, seed), True


@dataclass(frozen=True)
class StartGroups:
    """Which start-of-session token each user's sequences begin with (see the module doc)."""

    bos: int  # the plain start token; group i starts with bos + i (group 0: unknown)
    groups: tuple[str, ...]  # groups[0] is UNKNOWN_GROUP
    users: dict[str, int] = field(default_factory=dict)  # user → group index (absent: 0)
    rule: str = ""  # how the groups were formed (organisation table or activity clusters)

    @property
    def n_tokens(self) -> int:
        return len(self.groups)

    def token(self, user: str) -> int:
        return self.bos + self.users.get(user, 0)

    def tokens(self, users: np.ndarray | list[str]) -> np.ndarray:
        return np.array([self.token(u) for u in users], dtype=np.int32)

    @classmethod
    def fit(cls, bos: int, seqs: SequenceSet, org: pl.DataFrame | None, seed: int = 0) -> StartGroups:
        """Groups with at least one training user of `seqs` get a token; everyone else's is `bos`."""
        events = training_events(seqs)
        user_tokens = events.group_by("user", "token").agg(count=pl.len().cast(pl.Int64)).sort("user", "token")
        groups, clustered = user_groups(user_tokens, org, seed)
        trained = set(events["user"].unique().to_list())
        # "all users" (named by the table, but by no attribute) is no peer group: the plain token
        named = sorted(set(groups.filter(pl.col("user").is_in(trained))["group"].to_list()) - {ALL_USERS})
        index = {g: i + 1 for i, g in enumerate(named)}
        users = {u: index[g] for u, g in groups.iter_rows() if g in index}
        rule = f"{CLUSTER} clusters" if clustered else " > ".join(PEER_ATTRIBUTES) + f" > {ALL_USERS!r}"
        return cls(bos, (UNKNOWN_GROUP, *named), users, rule)

    def apply(self, seqs: SequenceSet) -> SequenceSet:
        """`seqs` (built with the plain start token `bos`) with each sequence's start token set to
        its user's group and the vocabulary grown by the group tokens (in place, returned)."""
        if seqs.bos != self.bos:
            raise ValueError(f"sequences start with token {seqs.bos}, the groups with {self.bos}")
        starts = seqs.offsets[:-1][seqs.lengths > 0]
        users = seqs.meta["user"].cast(pl.Utf8).to_numpy()[seqs.lengths > 0]
        seqs.tokens[starts] = self.tokens(users)
        seqs.vocab_size = self.bos + self.n_tokens
        seqs.extra["start_tokens"] = self.n_tokens
        seqs.extra["start_groups"] = self.to_json()
        return seqs

    def to_json(self) -> dict[str, Any]:
        return {
            "bos": self.bos,
            "groups": list(self.groups),
            "users": dict(sorted(self.users.items())),
            "rule": self.rule,
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> StartGroups:
        return cls(
            int(obj["bos"]),
            tuple(obj["groups"]),
            {str(u): int(i) for u, i in obj["users"].items()},
            obj.get("rule", ""),
        )
