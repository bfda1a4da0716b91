"""Incident routes for triage, the user profile, and the dashboard's static assets.

`install(app, runtime, auth)` adds them to the service app (one line in `service.app`):
* `GET /incidents?status=&user=&kind=&since=&until=&order=peak|recent&offset=&limit=` — one page
  and the true `total` for the filter (SQLite counts, not the page);
* `GET /incidents/counts`, `GET /incidents/{id}` (every contributing activity with its raw log
  fields), `POST /incidents/{id}/status` `{"status", "note"}`;
* `GET /users/{id}/profile` — the user's and the peers' baseline next to the latest day;
* `GET /static/app.js|style.css` — public (no data in them), so the page needs no inline script
  and a Content-Security-Policy can forbid inline code.
The store holds each incident as of its latest alert; the engine's tracker holds the activities
that joined since, so a detail view merges both.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query
from fastapi.responses import Response

from neighborwatch.service.schemas import StatusUpdate
from neighborwatch.streaming.events import time_to_us, us_to_iso
from neighborwatch.streaming.runtime import Runtime

STATIC = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


def _times(d: dict[str, Any]) -> dict[str, Any]:
    d["start"], d["end"] = us_to_iso(d["start_us"]), us_to_iso(d["end_us"])
    return d


def _live(runtime: Runtime, row: dict[str, Any], activities: bool = False) -> dict[str, Any]:
    """A stored incident overlaid with the tracker's current state (if still held)."""
    with runtime.lock:
        inc = runtime.engine.incidents.incidents.get(row["incident_id"])
        if inc is not None:
            fresh = inc.summary()
            if activities:
                fresh["activities"] = [dict(a) for a in inc.activities]
    if inc is not None:
        row = {**row, **fresh, "status": row["status"], "note": row.get("note")}
    elif activities:
        row["activities"] = row.get("drivers", [])
        row["activities_partial"] = True
    return _times(row)


def _parse_time(value: str | None, name: str) -> int | None:
    if not value:
        return None
    try:
        return time_to_us(value)
    except ValueError as e:
        raise HTTPException(422, f"{name}: {e}") from None


def install(app: FastAPI, runtime: Runtime, auth: Callable[..., None]) -> None:
    router = APIRouter(dependencies=[Depends(auth)])

    @router.get("/incidents")
    def list_incidents(
        status: str | None = Query(None, pattern="^(open|confirmed|dismissed)$"),
        user: str | None = None,
        kind: str | None = Query(None, pattern="^(activity|risk)$"),
        since: str | None = None,
        until: str | None = None,
        order: str = Query("peak", pattern="^(peak|recent)$"),
        offset: int = Query(0, ge=0),
        limit: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        total, rows = runtime.alerts.query_incidents(
            status=status,
            user=user or None,
            kind=kind,
            since_us=_parse_time(since, "since"),
            until_us=_parse_time(until, "until"),
            offset=offset,
            limit=limit,
            order=order,
        )
        return {"total": total, "offset": offset, "limit": limit, "incidents": [_live(runtime, r) for r in rows]}

    @router.get("/incidents/counts")
    def counts() -> dict[str, Any]:
        by_status = runtime.alerts.incident_counts()
        alerts, _ = runtime.alerts.query(limit=1)
        with runtime.lock:
            events = runtime.engine.counters.get("accepted", 0)
        return {
            "incidents": sum(by_status.values()),
            **{s: by_status.get(s, 0) for s in ("open", "confirmed", "dismissed")},
            "alerts": alerts,
            "events": events,
            "thresholds": runtime.engine.thresholds.calibration,
        }

    @router.get("/incidents/{incident_id}")
    def get_incident(incident_id: str) -> dict[str, Any]:
        row = runtime.alerts.get_incident(incident_id)
        if row is None:
            raise HTTPException(404, f"no incident {incident_id!r}")
        return _live(runtime, row, activities=True)

    @router.post("/incidents/{incident_id}/status")
    def set_status(incident_id: str, update: StatusUpdate) -> dict[str, Any]:
        row = runtime.alerts.set_incident_status(incident_id, update.status, update.note)
        if row is None:
            raise HTTPException(404, f"no incident {incident_id!r}")
        return _live(runtime, row)

    @router.get("/users/{user_id}/profile")
    def profile(user_id: str) -> dict[str, Any]:
        with runtime.lock:
            eng = runtime.engine
            if user_id not in eng.risk.users and user_id not in eng.risk.baseline.users:
                raise HTTPException(404, f"no activity seen for user {user_id!r}")
            out = eng.risk.profile(user_id)
            out["risk"] = round(eng.risk.decayed(user_id, eng.released_us), 6)
            out["risk_threshold"] = eng.thresholds.risk if eng.thresholds.risk != float("inf") else None
            u = eng.risk.users.get(user_id)
            out["timeline"] = [{"time": us_to_iso(t), "score": s, "risk": r} for t, s, r in (u.timeline if u else [])]
        total, rows = runtime.alerts.query_incidents(user=user_id, limit=100, order="recent")
        return {"user": user_id, **out, "incidents_total": total, "incidents": [_times(r) for r in rows]}

    app.include_router(router)

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in STATIC:
            raise HTTPException(404, "no such asset")
        body = resources.files("neighborwatch.service").joinpath("static", name).read_text(encoding="utf-8")
        return Response(body, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})
