"""The streaming engine: ordering window, dedup, sessions, micro-batched scoring, risk, alerts.

`Engine.submit(events)` accepts a batch (any order, duplicates allowed) and returns what became
final: one `record` per released event (scored, first-of-session, collapsed repeat, duplicate or
rejected — every accepted event yields exactly one record), new alerts, and the ack tokens of
the events now reflected in the engine state.

Ordering: events wait in a heap until the watermark (latest event time seen) has passed them by
`window_s`, or they have waited `max_hold_s` of wall time; they are released in (time,
event_id) order — the order of `events.parquet`, hence of the batch sessionizer. An event older
than what was already released is processed at once and flagged `late`.

Micro-batching: released events are routed in order (sessions open/close), then scored in
rounds — round r holds the r-th event of every session in the batch — so each round is one
batched `predict` + `advance` of the scorer over distinct sessions.
"""

from __future__ import annotations

import heapq
import itertools
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from neighborwatch.data.schema import EVENT_SCHEMA
from neighborwatch.evaluation.incidents import IncidentTracker
from neighborwatch.models.stream import StreamScorer
from neighborwatch.sequences.familiarity import RARE_PEER_SHARE, FamiliarityProfile, LiveCounts, phrase
from neighborwatch.sequences.peers import StartGroups
from neighborwatch.sequences.sessionize import SessionRule
from neighborwatch.streaming.alerts import Thresholds, expected_reasons, token_reason
from neighborwatch.streaming.events import OPTIONAL_FIELDS, LiveEvent, us_to_iso
from neighborwatch.streaming.risk import RiskTracker
from neighborwatch.streaming.session_state import Sessionizer

US = 1_000_000


@dataclass
class EngineConfig:
    window_s: float = 5.0  # event-time slack for out-of-order arrival
    max_hold_s: float = 1.0  # wall-clock bound on how long an event waits for stragglers
    dedup_ids: int = 500_000  # event ids remembered for duplicate detection
    collapse: bool = True  # repeat collapse, as in the batch sequences (must match the model's)
    bos: int = 0  # start-of-session token fed at every session open, as in the batch sequences (0 = none)
    idle_session_s: float = 0.0  # close sessions idle this long in event time (0 = never)
    # forget the risk and incident state of users idle this long in event time (0 = never): their
    # risk has decayed to nothing (7 half-lives of a day: < 1 %), so state follows active users,
    # not every user ever seen; their baselines (from calibration) and stored alerts stay
    idle_user_s: float = 7 * 86_400.0
    # open sessions kept at most (0 = unbounded): opening one more closes the least recently
    # active one first (LRU in release order), so state stays bounded whatever the key count
    max_open_sessions: int = 100_000
    session_rule: dict[str, Any] | None = None  # SessionRule JSON of the WORK (None = CERT's rule)
    top_expected: int = 5
    # "rare among peers": at most this share of the user's peers did the activity in training
    rare_peer_share: float = RARE_PEER_SHARE
    neighbours_shown: int = 5
    risk_trend_points: int = 20

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class EngineOutput:
    records: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    acks: list[Any] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    dead: list[dict[str, Any]] = field(default_factory=list)  # dead-letter entries (see `dead_letter`)

    def extend(self, other: EngineOutput) -> None:
        self.records += other.records
        self.alerts += other.alerts
        self.acks += other.acks
        self.latencies += other.latencies
        self.dead += other.dead


def _activity(alert_or_reasons: dict[str, Any]) -> str:
    """The observed activity in words: 'Connect at 3h' (paper tokens), 'device/Connect/own @ outside'
    (context tokens carry no clock hour)."""
    obs = alert_or_reasons.get("reasons", alert_or_reasons)["observed"]
    return f"{obs['activity']} at {obs['hour']}h" if obs["hour"] is not None else str(obs["activity"])


def dead_letter(ev: LiveEvent | None, stage: str, error: BaseException | str, raw: Any = None) -> dict[str, Any]:
    """The dead-letter entry of an event that could not be processed: what, where, why."""
    reason = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    event = None
    if ev is not None:
        try:
            event = ev.to_json()
        except Exception:  # noqa: BLE001 — the event may be what broke; keep its fields raw
            event = {
                "event_id": ev.event_id,
                "time_us": ev.time_us,
                "user": ev.user,
                "host": ev.host,
                "source": ev.source,
                "action": ev.action,
            }
    return {
        "event_id": ev.event_id if ev is not None else None,
        "stage": stage,
        "reason": reason[:2000],
        "event": event,
        "raw": None if raw is None else str(raw)[:2000],
    }


class Engine:
    def __init__(
        self,
        scorer: StreamScorer,
        tokenize: Callable[[pl.DataFrame], np.ndarray],
        decode: Callable[[int], tuple[str, int | None]],
        thresholds: Thresholds | None = None,
        config: EngineConfig | None = None,
        familiarity: FamiliarityProfile | None = None,
        start_groups: StartGroups | None = None,
    ) -> None:
        self.scorer = scorer
        self.tokenize = tokenize
        self.decode = decode
        self.thresholds = thresholds or Thresholds()
        self.config = config or EngineConfig()
        self.sessions = Sessionizer(collapse=self.config.collapse, rule=SessionRule.from_json(self.config.session_rule))
        th = self.thresholds
        self.risk = RiskTracker(th.half_life_s, th.risk_baseline(), th.slack)
        self.incidents = IncidentTracker(th.activity, th.risk, th.incident_rules())
        self.seen: OrderedDict[str, None] = OrderedDict()  # processed or buffered event ids
        # familiarity reasons (None: the model folder has no profile, alerts go without them);
        # `live_seen` is per-user state like risk: what each user did since training
        self.familiarity = familiarity
        self.live_seen = LiveCounts()
        # peer-group start tokens (`prepare --start-token peer`): a session opens with its user's
        # group token, as in the batch sequences; None: every session opens with `config.bos`
        if start_groups is not None and start_groups.bos != self.config.bos:
            raise ValueError(f"start groups begin at token {start_groups.bos}, the engine's BOS is {self.config.bos}")
        self.start_groups = start_groups
        self._heap: list[tuple[int, str, int, LiveEvent]] = []
        self._tie = itertools.count()
        self.watermark_us = -(2**62)
        self.released_us = -(2**62)
        self.counters: dict[str, int] = {
            "accepted": 0,
            "scored": 0,
            "first": 0,
            "repeat": 0,
            "duplicate": 0,
            "rejected": 0,
            "late": 0,
            "alerts": 0,
            "failed": 0,
            "evicted_idle": 0,
            "evicted_lru": 0,
            "users_forgotten": 0,
        }
        self._users_swept_us = -(2**62)

    # -- intake ------------------------------------------------------------------------------
    @property
    def buffered(self) -> int:
        return len(self._heap)

    def _remember(self, event_id: str) -> None:
        self.seen[event_id] = None
        while len(self.seen) > self.config.dedup_ids:
            self.seen.popitem(last=False)

    def submit(self, events: list[LiveEvent], now: float | None = None) -> EngineOutput:
        now = time.monotonic() if now is None else now
        out = EngineOutput()
        for ev in events:
            if ev.event_id in self.seen:
                self.counters["duplicate"] += 1
                out.acks.append(ev.ack)  # nothing new to make durable
                continue
            self._remember(ev.event_id)
            self.counters["accepted"] += 1
            if not ev.arrived:
                ev.arrived = now
            heapq.heappush(self._heap, (ev.time_us, ev.event_id, next(self._tie), ev))
            self.watermark_us = max(self.watermark_us, ev.time_us)
        out.extend(self.release(now))
        return out

    def release(self, now: float | None = None, everything: bool = False) -> EngineOutput:
        """Process buffered events whose wait is over (or all of them)."""
        now = time.monotonic() if now is None else now
        horizon = self.watermark_us - int(self.config.window_s * US)
        ready: list[LiveEvent] = []
        while self._heap:
            t, _, _, ev = self._heap[0]
            if everything or t <= horizon or now - ev.arrived >= self.config.max_hold_s:
                heapq.heappop(self._heap)
                ready.append(ev)
            else:
                break
        return self._process_isolated(ready, now) if ready else EngineOutput()

    def _process_isolated(self, ready: list[LiveEvent], now: float) -> EngineOutput:
        """`_process`, but an exception it did not isolate to one event dead-letters the batch
        it happened in (acknowledged, counted) instead of killing the worker."""
        try:
            return self._process(ready, now)
        except Exception as e:  # noqa: BLE001 — the worker never dies on its input
            out = EngineOutput()
            for ev in ready:
                self.counters["failed"] = self.counters.get("failed", 0) + 1
                out.records.append({"event_id": ev.event_id, "status": "failed", "error": str(e)[:500]})
                out.dead.append(dead_letter(ev, "engine batch", e))
                out.acks.append(ev.ack)
            return out

    def flush(self) -> EngineOutput:
        return self.release(everything=True)

    # -- processing --------------------------------------------------------------------------
    def _tokens(self, events: list[LiveEvent]) -> tuple[np.ndarray, list[str | None]]:
        """Tokens per event (0 where the tokenizer refuses one), with the refusal reasons."""
        df = pl.DataFrame(
            {
                "source": [e.source for e in events],
                "action": [e.action for e in events],
                "time": np.array([e.time_us for e in events], dtype="datetime64[us]"),
            },
            schema={"source": pl.Utf8, "action": pl.Utf8, "time": pl.Datetime("us")},
        )
        # who, where and the details: what context tokens read (same columns as events.parquet)
        df = df.hstack(
            pl.DataFrame(
                {
                    "user": [e.user for e in events],
                    "host": [e.host for e in events],
                    **{c: [e.details.get(c) for e in events] for c in OPTIONAL_FIELDS},
                },
                schema={"user": pl.Utf8, "host": pl.Utf8, **{c: EVENT_SCHEMA[c] for c in OPTIONAL_FIELDS}},
                strict=False,
            )
        )
        try:
            return np.asarray(self.tokenize(df), dtype=np.int64), [None] * len(events)
        except Exception:  # noqa: BLE001 — find the events it refuses, one by one
            toks = np.zeros(len(events), dtype=np.int64)
            errors: list[str | None] = []
            for i in range(len(events)):
                try:
                    toks[i] = int(self.tokenize(df[i : i + 1])[0])
                    errors.append(None)
                except Exception as e:  # noqa: BLE001
                    errors.append(str(e).split(". ")[0][:500] or type(e).__name__)
            return toks, errors

    def _process(self, events: list[LiveEvent], now: float) -> EngineOutput:
        out = EngineOutput()
        tokens, errors = self._tokens(events)
        n = len(events)
        status = ["scored"] * n
        slot = np.full(n, -1, dtype=np.int64)
        round_of = np.full(n, -1, dtype=np.int64)
        predict = np.zeros(n, dtype=bool)
        session_ids: list[str | None] = [None] * n
        positions = np.full(n, -1, dtype=np.int64)
        recent: list[list[Any]] = [[] for _ in range(n)]  # LiveEvents (or dicts after a restore)
        rounds: dict[int, int] = {}  # slot -> events routed to it in this batch
        to_release: list[int] = []
        idle_us = int(self.config.idle_session_s * US)
        late = np.zeros(n, dtype=bool)
        bos = self.config.bos
        bos_slots: list[int] = []  # sessions opened in this batch: fed BOS before any round
        bos_tokens: list[int] = []  # ... the start token of each (its user's group, or BOS)
        repeat_of = np.full(n, -1, dtype=np.int64)  # a collapsed repeat: the kept event it repeats
        last_kept: dict[int, int] = {}  # slot -> its last kept event in this batch
        owner: list[Any] = [None] * n  # the OpenSession of each routed event

        for i, ev in enumerate(events):
            late[i] = ev.time_us < self.released_us
            self.released_us = max(self.released_us, ev.time_us)
            if late[i]:
                self.counters["late"] += 1
            if errors[i] is not None:
                status[i] = "rejected"
                out.dead.append(dead_letter(ev, "tokenize", str(errors[i])))
                continue
            try:
                tok = int(tokens[i])
                r = self.sessions.route(ev, tok)
                cur = self.sessions.open.get(r.key)
                if cur is not None and not r.opens and idle_us and ev.time_us - cur.last_us > idle_us:
                    r.opens, r.closes_previous, r.collapsed = True, cur, False
                if r.closes_previous is not None:
                    self.sessions.end(r.key)
                    to_release.append(r.closes_previous.slot)
                if r.opens:
                    self._evict_lru(r.key, to_release)
                    cur = self.sessions.start(ev, self.scorer.allocate())
                    if bos:
                        bos_slots.append(cur.slot)
                        bos_tokens.append(self.start_groups.token(ev.user) if self.start_groups else bos)
                assert cur is not None
                session_ids[i] = cur.session_id
                owner[i] = cur
                if r.collapsed:
                    status[i] = "repeat"
                    repeat_of[i] = last_kept.get(cur.slot, -1)
                else:
                    status[i] = "first" if cur.length == 0 else "scored"
                    predict[i] = cur.length > 0 or bool(bos)
                    last_kept[cur.slot] = i
                    slot[i] = cur.slot
                    round_of[i] = rounds.get(cur.slot, 0)
                    rounds[cur.slot] = round_of[i] + 1
                    positions[i] = cur.length
                self.sessions.append(cur, ev, tok, kept=not r.collapsed)
                self.sessions.open[r.key] = self.sessions.open.pop(r.key)  # most recent last (LRU order)
                recent[i] = list(cur.recent)
                if r.closes_after:
                    self.sessions.end(r.key)
                    to_release.append(cur.slot)
            except Exception as e:  # noqa: BLE001 — this event only; the worker goes on
                status[i], errors[i] = "failed", f"{type(e).__name__}: {e}"
                slot[i], round_of[i], predict[i] = -1, -1, False
                out.dead.append(dead_letter(ev, "routing", e))

        # batched scoring, one round per depth within the batch; per-event results land in
        # whole-batch arrays (one fancy-index store per round, no per-event Python objects)
        scores = np.full(n, np.nan)
        times = np.fromiter((e.time_us for e in events), dtype=np.int64, count=n)
        users = np.array([e.user for e in events], dtype=object)
        probs: np.ndarray | None = None  # [n, vocab], rows of predicted events
        neigh: tuple[np.ndarray, np.ndarray] | None = None  # ([n, k], [n, k])
        n_rounds = int(round_of.max()) + 1 if n else 0
        by_round = np.argsort(round_of, kind="stable")  # event order within each round
        bounds = np.searchsorted(round_of[by_round], np.arange(-1, n_rounds + 1))
        if bos_slots:
            self.scorer.advance(np.asarray(bos_slots, dtype=np.int64), np.asarray(bos_tokens, dtype=np.int64))
        for rd in range(n_rounds):
            idx = by_round[bounds[rd + 1] : bounds[rd + 2]]
            p_idx = idx[predict[idx]]
            if p_idx.size:
                scores[p_idx], pred = self.scorer.score(slot[p_idx], tokens[p_idx], times[p_idx], users[p_idx])
            if p_idx.size and pred is not None:
                if probs is None:
                    probs = np.empty((n, pred.probs.shape[1]), dtype=pred.probs.dtype)
                probs[p_idx] = pred.probs
                if pred.neighbours is not None and pred.similarities is not None:
                    if neigh is None:
                        neigh = (
                            np.empty((n, pred.neighbours.shape[1]), np.int64),
                            np.empty((n, pred.similarities.shape[1]), np.float32),
                        )
                    neigh[0][p_idx] = pred.neighbours
                    neigh[1][p_idx] = pred.similarities
            self.scorer.advance(slot[idx], tokens[idx], times[idx])
        for s in to_release:
            self.scorer.release(s)
        # a collapsed repeat takes the score of the activity it repeats (batch: `raw_positions`)
        for i in range(n):
            if status[i] == "repeat":
                prev = owner[i].last_score if repeat_of[i] < 0 else scores[repeat_of[i]]
                scores[i] = math.nan if prev is None else prev
            elif owner[i] is not None:
                owner[i].last_score = None if math.isnan(scores[i]) else float(scores[i])

        # risk and alerts in event order (plain Python values: numpy scalar access is slow)
        th = self.thresholds
        score_l, pos_l, tok_l, late_l, pred_l = (
            scores.tolist(),
            positions.tolist(),
            tokens.tolist(),
            late.tolist(),
            predict.tolist(),
        )
        counters = self.counters
        records, acks, latencies = out.records, out.acks, out.latencies
        for i, ev in enumerate(events):
            if status[i] == "failed":  # dead-lettered while routing
                counters["failed"] = counters.get("failed", 0) + 1
                records.append({"event_id": ev.event_id, "status": "failed", "error": errors[i]})
                acks.append(ev.ack)
                continue
            n_alerts = len(out.alerts)
            try:
                sc = score_l[i]
                st = status[i]
                finite = not math.isnan(sc)
                rec: dict[str, Any] = {
                    "event_id": ev.event_id,
                    "time": us_to_iso(ev.time_us),
                    "user": ev.user,
                    "host": ev.host,
                    "status": st,
                    "session": session_ids[i],
                    "position": pos_l[i] if pos_l[i] >= 0 else None,
                    "token": tok_l[i] if st != "rejected" else None,
                    "score": round(sc, 7) if finite else None,
                }
                if st == "rejected":
                    rec["error"] = errors[i]
                if late_l[i]:
                    rec["late"] = True
                counters[st] = counters.get(st, 0) + 1
                if finite and st != "repeat":  # a repeat's alert and risk were raised by what it repeats
                    before, after, z = self.risk.update(ev.user, ev.time_us, sc)
                    rec["risk"] = round(after, 6)
                    kinds, incident = self.incidents.observe(
                        ev.user, ev.time_us, ev.event_id, sc, z, before, after, ev.to_json
                    )
                    familiar = self._familiarity(ev.user, tok_l[i]) if kinds else None
                    for kind in kinds:
                        value, thr = (sc, th.activity) if kind == "activity" else (after, th.risk)
                        p = probs[i] if probs is not None and pred_l[i] else None
                        nb = (neigh[0][i], neigh[1][i]) if neigh is not None and pred_l[i] else None
                        alert = self._alert(kind, ev, value, thr, tok_l[i], p, nb, session_ids[i], recent[i], sc, after)
                        if incident is not None:
                            alert["incident"] = incident.summary()
                            if kind == "risk":
                                alert["summary"] = self._risk_summary(after, thr, incident)
                        if familiar is not None:
                            alert["reasons"]["familiarity"] = familiar
                            what = f"the crossing activity ({_activity(alert)}): " if kind == "risk" else ""
                            alert["summary"] += f"; {what}{phrase(familiar)}"
                        out.alerts.append(alert)
                # counted after the alerts: "first time" means before this one
                fam = self.familiarity
                if fam is not None and st != "rejected" and fam.after_training(ev.user, ev.time_us):
                    self.live_seen.add(ev.user, tok_l[i], ev.time_us)
                records.append(rec)
                acks.append(ev.ack)
                latencies.append(now - ev.arrived if ev.arrived else 0.0)
            except Exception as e:  # noqa: BLE001 — this event only; the worker goes on
                del out.alerts[n_alerts:]
                counters["failed"] = counters.get("failed", 0) + 1
                records.append({"event_id": ev.event_id, "status": "failed", "error": f"{type(e).__name__}: {e}"})
                out.dead.append(dead_letter(ev, "alerting", e))
                acks.append(ev.ack)

        for key in self.sessions.expired(self.released_us):  # closed by the session rule
            closed = self.sessions.end(key)
            if closed is not None:
                self.scorer.release(closed.slot)
        if idle_us:  # sessions are in order of last activity: the idle ones are at the front
            before = self.released_us - idle_us
            idle = list(itertools.takewhile(lambda kv: kv[1].last_us < before, self.sessions.open.items()))
            for key, open_session in idle:
                self.sessions.end(key)
                self.scorer.release(open_session.slot)
            self.counters["evicted_idle"] += len(idle)
        self._forget_idle_users()
        self.counters["alerts"] += len(out.alerts)
        return out

    def _forget_idle_users(self) -> None:
        """Drop per-user risk / incident state of users idle past `idle_user_s` (scanned at most once
        per hour of event time: the scan is over every tracked user)."""
        idle_us = int(self.config.idle_user_s * US)
        if not idle_us or self.released_us - self._users_swept_us < 3600 * US:
            return
        self._users_swept_us = self.released_us
        gone = self.risk.forget_idle(self.released_us - idle_us)
        self.incidents.forget(gone)
        self.live_seen.forget_idle(self.released_us - idle_us)
        self.counters["users_forgotten"] += len(gone)

    def _familiarity(self, user: str, token: int) -> dict[str, Any] | None:
        """The familiarity reason of this activity, counting what was seen live before it."""
        if self.familiarity is None:
            return None
        live = self.live_seen.get(user, token)
        return self.familiarity.describe(user, token, live, self.config.rare_peer_share)

    def _evict_lru(self, opening: tuple[str, str], to_release: list[int]) -> None:
        """Make room for one more open session by closing the least recently active ones (their
        scorer slots are released after this batch's scoring, like any closed session's)."""
        cap = self.config.max_open_sessions
        open_ = self.sessions.open
        while cap and len(open_) - (opening in open_) >= cap:
            key = next(k for k in open_ if k != opening)
            to_release.append(open_[key].slot)
            self.sessions.end(key)
            self.counters["evicted_lru"] += 1

    def _alert(
        self,
        kind: str,
        ev: LiveEvent,
        value: float,
        threshold: float,
        token: int,
        probs: np.ndarray | None,
        neigh: tuple[np.ndarray, np.ndarray] | None,
        session: str | None,
        recent: list[Any],
        score: float,
        risk: float,
    ) -> dict[str, Any]:
        cfg = self.config
        u = self.risk.users.get(ev.user)
        if u is not None:
            u.alerts += 1
        reasons: dict[str, Any] = {
            "observed": token_reason(self.decode, token, float(probs[token]) if probs is not None else float("nan")),
            "expected": expected_reasons(self.decode, probs, cfg.top_expected) if probs is not None else [],
            "neighbours": [],
            "risk_trend": self.risk.trend(ev.user, cfg.risk_trend_points),
            "events": [e.to_json() if isinstance(e, LiveEvent) else e for e in recent],
        }
        if neigh is not None:
            ids, sims = neigh
            described = self.scorer.describe_neighbours(ids[: cfg.neighbours_shown])
            for d, s in zip(described, sims[: cfg.neighbours_shown]):
                d["similarity"] = round(float(s), 4)
            reasons["neighbours"] = described
        summary = (
            f"{_activity(reasons)} had probability {reasons['observed']['probability']:.4f}"
            if kind == "activity"
            else f"risk {risk:.3f} crossed {threshold:.3f}"
        )
        return {
            "alert_id": f"{kind}:{ev.event_id}",
            "kind": kind,
            "status": "open",
            "user": ev.user,
            "host": ev.host,
            "session": session,
            "event_id": ev.event_id,
            "time": us_to_iso(ev.time_us),
            "time_us": ev.time_us,
            "score": round(float(score), 6),
            "risk": round(float(risk), 6),
            "value": round(float(value), 6),
            "threshold": round(float(threshold), 6),
            "summary": summary,
            "reasons": reasons,
        }

    def _risk_summary(self, risk: float, threshold: float, incident: Any) -> str:
        """Why a risk alert fired, in the words an analyst checks it with."""
        drivers = []
        for a in incident.drivers(3):
            raw = a.get("raw") or {}
            drivers.append(
                f"{raw.get('source', '?')}/{raw.get('action', '?')} at {str(raw.get('time', ''))[11:16]}"
                f" ({a['z']:+.1f}σ)"
            )
        return (
            f"risk {risk:.2f} ≥ {threshold:.2f}: {incident.n_activities} activities above this user's "
            f"normal, led by {', '.join(drivers) or 'this activity'}"
        )

    # -- state -------------------------------------------------------------------------------
    def state_json(self) -> dict[str, Any]:
        """Everything but the scorer arrays (see `snapshot`)."""
        return {
            "config": self.config.to_json(),
            "scorer": self.scorer.config(),
            "sessions": self.sessions.to_json(),
            "risk": self.risk.to_json(),
            "incidents": self.incidents.to_json(),
            "familiarity": self.live_seen.to_json(),
            "seen": list(self.seen.keys()),
            "buffer": [dict(ev.to_json(), **{"_ack": ev.ack}) for _, _, _, ev in sorted(self._heap)],
            "watermark_us": self.watermark_us,
            "released_us": self.released_us,
            "counters": self.counters,
        }

    def load_state_json(self, obj: dict[str, Any]) -> None:
        from neighborwatch.streaming.events import parse_event

        if obj["scorer"] != self.scorer.config():
            raise ValueError(f"snapshot was taken with scorer {obj['scorer']}, not {self.scorer.config()}")
        self.sessions = Sessionizer.from_json(obj["sessions"])
        self.risk = RiskTracker.from_json(obj["risk"])
        if "incidents" in obj:
            self.incidents = IncidentTracker.from_json(obj["incidents"])
        self.live_seen = LiveCounts.from_json(obj.get("familiarity"))
        self.seen = OrderedDict((k, None) for k in obj["seen"])
        self._heap = []
        now = time.monotonic()
        for d in obj["buffer"]:
            ack = d.pop("_ack", None)
            ev = parse_event(d, ack=ack, arrived=now)
            heapq.heappush(self._heap, (ev.time_us, ev.event_id, next(self._tie), ev))
        self.watermark_us = int(obj["watermark_us"])
        self.released_us = int(obj["released_us"])
        self.counters.update(obj["counters"])
