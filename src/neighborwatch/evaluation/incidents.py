"""Incidents: a user's related alerts and the activities behind them, as one thing to triage.

An analyst works cases, not single events. Per user, an alert opens an incident; every later
alert within `gap_s` (event time) of the incident's last alert joins it, and so does every
activity that raised the user's risk meanwhile. An incident opened by a risk alert starts with
the run of activities that lifted risk from 0 to the threshold, so it names what drove it.

Alert rules (`IncidentTracker.observe`), shared by the live engine, threshold calibration and the
offline evaluation — one implementation, so the budget measured offline is the one served:
* `activity` — the activity's score reaches the activity threshold;
* `risk` — risk reaches the risk threshold while armed; it disarms, and re-arms only once risk
  has fallen below `rearm` × threshold (hysteresis), and fires at most once per incident.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np

US = 1_000_000
RUN_KEPT = 50  # contributors remembered per user while risk is above 0 (the start of an incident)


@dataclass
class IncidentRules:
    gap_s: float = 12 * 3600.0  # an alert this close to an incident's last alert joins it
    rearm: float = 0.5  # a risk alert re-arms below rearm × the risk threshold
    max_activities: int | None = 100  # activities listed per incident (all are counted); None = all
    kept: int = 1_000  # incidents held in memory and in snapshots (older ones: the alert store)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Incident:
    incident_id: str
    user: str
    start_us: int
    end_us: int
    first_alert_us: int
    last_alert_us: int
    peak_risk: float = 0.0
    peak_score: float = 0.0
    peak_event_id: str = ""
    alerts: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    n_activities: int = 0
    activities: list[dict[str, Any]] = field(default_factory=list)
    risk_alerted: bool = False

    def add(self, activity: dict[str, Any], limit: int | None) -> None:
        self.n_activities += 1
        self.start_us = min(self.start_us, activity["time_us"])
        self.end_us = max(self.end_us, activity["time_us"])
        if limit is None or len(self.activities) < limit:
            self.activities.append(activity)
        self.peak_risk = max(self.peak_risk, activity["risk"])
        if activity["score"] >= self.peak_score:
            self.peak_score, self.peak_event_id = activity["score"], activity["event_id"]

    def drivers(self, top: int = 5) -> list[dict[str, Any]]:
        """The activities that raised risk the most (what the analyst should look at first)."""
        return sorted(self.activities, key=lambda a: -a["contribution"])[:top]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["drivers"] = [a["event_id"] for a in self.drivers()]
        return d

    def summary(self, top: int = 5) -> dict[str, Any]:
        """What an alert carries and the incident list shows: everything but the activity list."""
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "activities"}
        d["kinds"] = dict(self.kinds)
        d["drivers"] = self.drivers(top)
        return d

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Incident:
        obj = {k: v for k, v in obj.items() if k != "drivers"}
        return cls(**obj)


Contributor = dict[str, Any] | Callable[[], dict[str, Any]]  # an activity's record, or how to make it


def _record(c: Contributor) -> dict[str, Any]:
    return c if isinstance(c, dict) else c()


@dataclass
class _UserState:
    armed: bool = True
    # the activities that raised risk since it was last 0; kept as closures, so that an activity's
    # record (with its raw log fields) is built only when an incident or a snapshot needs it
    run: deque[Contributor] = field(default_factory=lambda: deque(maxlen=RUN_KEPT))
    incident: Incident | None = None


class IncidentTracker:
    """Turns each scored activity (with its risk before/after) into alert kinds and incidents."""

    def __init__(self, activity: float, risk: float, rules: IncidentRules | None = None) -> None:
        self.activity, self.risk = float(activity), float(risk)
        self.rules = rules or IncidentRules()
        self.users: dict[str, _UserState] = {}
        self.incidents: OrderedDict[str, Incident] = OrderedDict()

    def observe(
        self,
        user: str,
        time_us: int,
        event_id: str,
        score: float,
        z: float,
        before: float,
        after: float,
        raw: Callable[[], dict[str, Any]] | None = None,
    ) -> tuple[list[str], Incident | None]:
        """Alert kinds raised by this activity and the incident it belongs to (None if none).

        `raw` gives the activity's log fields; it is called only for activities an incident keeps.
        """
        rules = self.rules
        st = self.users.get(user)
        if st is None:
            st = self.users[user] = _UserState()
        contribution = after - before
        act: dict[str, Any] | None = None

        def activity() -> dict[str, Any]:
            nonlocal act
            if act is None:
                act = {
                    "event_id": event_id,
                    "time_us": int(time_us),
                    "score": round(float(score), 6),
                    "z": round(float(z), 4),
                    "risk": round(float(after), 6),
                    "contribution": round(float(contribution), 6),
                }
                if raw is not None:
                    act["raw"] = raw()
            return act

        if after <= 0.0:
            st.run.clear()
        elif contribution > 0:
            st.run.append(activity)
        if not st.armed and after < rules.rearm * self.risk:
            st.armed = True
        inc = st.incident
        if inc is not None and time_us - inc.last_alert_us > rules.gap_s * US:
            inc = st.incident = None  # closed: the next alert opens a new one
        kinds = []
        if score >= self.activity:
            kinds.append("activity")
        if after >= self.risk and st.armed:
            st.armed = False
            if inc is None or not inc.risk_alerted:
                kinds.append("risk")
        if kinds:
            this = activity()
            if inc is None:
                inc = st.incident = Incident(
                    f"{user}:{event_id}", user, int(time_us), int(time_us), int(time_us), int(time_us)
                )
                for prior in st.run:
                    rec = _record(prior)
                    if rec is not this:
                        inc.add(rec, rules.max_activities)
                self.incidents[inc.incident_id] = inc
                while len(self.incidents) > rules.kept:
                    self.incidents.popitem(last=False)
            inc.last_alert_us = int(time_us)
            inc.alerts += len(kinds)
            for k in kinds:
                inc.kinds[k] = inc.kinds.get(k, 0) + 1
            inc.risk_alerted = inc.risk_alerted or "risk" in kinds
            inc.add(this, rules.max_activities)
        elif inc is not None and contribution > 0:
            inc.add(activity(), rules.max_activities)
        return kinds, inc

    def forget(self, users: list[str]) -> None:
        """Drop the per-user state (run of contributors, armed flag, open incident link) of idle
        users; their incidents stay in `incidents` (and in the alert store)."""
        for u in users:
            self.users.pop(u, None)

    # -- state -------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "activity": self.activity if np.isfinite(self.activity) else None,
            "risk": self.risk if np.isfinite(self.risk) else None,
            "rules": self.rules.to_json(),
            "incidents": [i.to_json() for i in self.incidents.values()],
            "users": {
                u: {
                    "armed": s.armed,
                    "run": [_record(c) for c in s.run],
                    "incident": s.incident.incident_id if s.incident else None,
                }
                for u, s in self.users.items()
            },
        }

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> IncidentTracker:
        inf = float("inf")
        out = cls(
            inf if obj["activity"] is None else obj["activity"],
            inf if obj["risk"] is None else obj["risk"],
            IncidentRules(**obj["rules"]),
        )
        for d in obj["incidents"]:
            out.incidents[d["incident_id"]] = Incident.from_json(d)
        for u, s in obj["users"].items():
            out.users[u] = _UserState(
                s["armed"],
                deque(s["run"], maxlen=RUN_KEPT),
                out.incidents.get(s["incident"]) if s["incident"] else None,
            )
        return out


def run_incidents(
    users: np.ndarray,
    times_us: np.ndarray,
    scores: np.ndarray,
    z: np.ndarray,
    before: np.ndarray,
    after: np.ndarray,
    activity: float,
    risk: float,
    rules: IncidentRules | None = None,
) -> tuple[dict[str, int], list[Incident]]:
    """Offline: the alerts (counts per kind) and incidents a live run over these activities raises.

    Event ids are the positions in the arrays. Activities that can neither alert, nor re-arm a
    risk alert, nor join an incident are skipped (they change nothing the counts depend on) —
    except when every activity is listed (`max_activities=None`), for the evaluation.
    """
    rules = rules or IncidentRules()
    users = np.asarray(users, dtype=object).astype(str)
    order = np.lexsort((np.asarray(times_us), users))
    if rules.max_activities is not None:  # counting only: keep what can change a count
        arm_line = rules.rearm * risk
        hot = (np.nan_to_num(scores, nan=-np.inf) >= activity) | (after >= arm_line)
        same_user = np.r_[False, users[order][1:] == users[order][:-1]]
        prev_hot = np.r_[False, hot[order][:-1]] & same_user
        order = order[hot[order] | prev_hot]
    tracker = IncidentTracker(activity, risk, replace(rules, kept=len(order) + 1))
    kinds = {"activity": 0, "risk": 0}
    u_l, t_l, s_l, z_l, b_l, a_l = (
        users.tolist(),
        np.asarray(times_us).tolist(),
        np.nan_to_num(scores, nan=-np.inf).tolist(),
        np.nan_to_num(z).tolist(),
        before.tolist(),
        after.tolist(),
    )
    for i in order.tolist():
        ks, _ = tracker.observe(u_l[i], t_l[i], str(i), s_l[i], z_l[i], b_l[i], a_l[i])
        for k in ks:
            kinds[k] += 1
    return kinds, list(tracker.incidents.values())
