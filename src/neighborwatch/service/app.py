"""FastAPI app over a `Runtime`: intake, alerts, users, SSE, metrics, dashboard.

Every route but `/healthz` needs the token, as `Authorization: Bearer <token>` or, for what a
browser opens directly (the dashboard page, the SSE stream), `?token=<token>`.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, StreamingResponse
from pydantic import ValidationError

from neighborwatch.service.incidents import install as install_incidents
from neighborwatch.service.schemas import EventBatch, StatusUpdate
from neighborwatch.streaming.events import parse_event, us_to_iso
from neighborwatch.streaming.runtime import Runtime
from neighborwatch.streaming.sources import Backpressure

SSE_QUEUE = 1000  # alerts buffered per SSE client; a client this far behind is dropped


def _static(name: str) -> str:
    return resources.files("neighborwatch.service").joinpath("static", name).read_text(encoding="utf-8")


def dashboard_html() -> str:
    """index.html with its script and style inlined (one authenticated request, no CDN)."""
    html = _static("index.html")
    return html.replace("/*STYLE*/", _static("style.css")).replace("/*SCRIPT*/", _static("app.js"))


def create_app(runtime: Runtime, token: str, publisher: Any = None, max_batch: int = 10_000,
               max_body: int = 8 * 1024 * 1024, title: str = "neighborwatch") -> FastAPI:
    """`publisher` (a RedisPublisher) makes POST /events durable; else the runtime's memory queue."""
    if not token:
        raise ValueError("the service needs a non-empty token")
    listeners: set[asyncio.Queue] = set()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        """Forward the worker thread's new alerts into every SSE client's asyncio queue."""
        loop = asyncio.get_running_loop()

        def push(alerts: list[dict[str, Any]]) -> None:
            def deliver() -> None:
                for q in list(listeners):
                    for a in alerts:
                        if q.full():  # a client this far behind is dropped, not waited for
                            listeners.discard(q)
                            break
                        q.put_nowait(a)
            loop.call_soon_threadsafe(deliver)

        runtime.subscribers.append(push)
        try:
            yield
        finally:
            runtime.subscribers.remove(push)

    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.runtime = runtime

    def auth(request: Request) -> None:
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else request.query_params.get("token", "")
        if not given or not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status_code=401, detail="missing or wrong token",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        ok = runtime.error is None and (runtime.alive or runtime._thread is None)
        body = {"status": "ok" if ok else "error", "worker_alive": runtime.alive,
                "error": None if runtime.error is None else repr(runtime.error)}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.post("/events", status_code=202, dependencies=[Depends(auth)])
    async def post_events(request: Request) -> dict[str, Any]:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            runtime.metrics.http_rejected["too_large"] += 1
            raise HTTPException(413, f"body of {length} bytes exceeds the limit of {max_body}")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_body:
                runtime.metrics.http_rejected["too_large"] += 1
                raise HTTPException(413, f"body exceeds the limit of {max_body} bytes")
        try:
            raw = json.loads(body)
        except (ValueError, UnicodeDecodeError) as e:
            runtime.metrics.http_rejected["malformed"] += 1
            raise HTTPException(400, f"body is not valid JSON: {e}") from None
        if isinstance(raw, list):
            raw = {"events": raw}
        if isinstance(raw, dict) and isinstance(raw.get("events"), list) and len(raw["events"]) > max_batch:
            runtime.metrics.http_rejected["too_large"] += 1
            raise HTTPException(413, f"{len(raw['events'])} events in one batch; the limit is {max_batch}")
        try:
            batch = EventBatch.model_validate(raw)
        except ValidationError as e:
            runtime.metrics.http_rejected["invalid"] += 1
            errors = [{"loc": list(x["loc"]), "msg": x["msg"]} for x in e.errors()[:20]]
            raise HTTPException(422, {"error": "invalid events", "count": e.error_count(), "errors": errors}) from None
        dicts = [ev.to_event_dict() for ev in batch.events]
        try:
            if publisher is not None:
                publisher.publish(dicts)
            else:
                now = time.monotonic()
                runtime.source.put_batch([parse_event(d, arrived=now) for d in dicts])
        except Backpressure as e:
            runtime.metrics.http_rejected["backpressure"] += 1
            raise HTTPException(429, f"busy: {e}; retry later", headers={"Retry-After": "1"}) from None
        except ValueError as e:
            runtime.metrics.http_rejected["invalid"] += 1
            raise HTTPException(422, str(e)) from None
        return {"accepted": len(dicts)}

    @app.get("/alerts", dependencies=[Depends(auth)])
    def get_alerts(status: str | None = Query(None, pattern="^(open|confirmed|dismissed)$"),
                   user: str | None = None, kind: str | None = Query(None, pattern="^(activity|risk)$"),
                   offset: int = Query(0, ge=0), limit: int = Query(50, ge=1, le=500)) -> dict[str, Any]:
        total, alerts = runtime.alerts.query(status=status, user=user, kind=kind, offset=offset, limit=limit)
        return {"total": total, "offset": offset, "limit": limit, "alerts": alerts}

    @app.get("/alerts/stream", dependencies=[Depends(auth)])
    async def alert_stream(request: Request) -> StreamingResponse:
        q: asyncio.Queue = asyncio.Queue(maxsize=SSE_QUEUE)
        listeners.add(q)

        async def gen():
            try:
                yield "retry: 2000\n\n"
                while q in listeners:
                    if await request.is_disconnected():
                        break
                    try:
                        a = await asyncio.wait_for(q.get(), timeout=5.0)
                        yield f"event: alert\ndata: {json.dumps(a)}\n\n"
                    except asyncio.TimeoutError:
                        yield ": keep-alive\n\n"
            finally:
                listeners.discard(q)

        return StreamingResponse(gen(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.get("/alerts/{alert_id}", dependencies=[Depends(auth)])
    def get_alert(alert_id: str) -> dict[str, Any]:
        a = runtime.alerts.get(alert_id)
        if a is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        return a

    def _set_status(alert_id: str, update: StatusUpdate) -> dict[str, Any]:
        a = runtime.alerts.set_status(alert_id, update.status, update.note)
        if a is None:
            raise HTTPException(404, f"no alert {alert_id!r}")
        return a

    app.post("/alerts/{alert_id}/status", dependencies=[Depends(auth)])(_set_status)
    app.patch("/alerts/{alert_id}", dependencies=[Depends(auth)])(_set_status)

    @app.get("/users", dependencies=[Depends(auth)])
    def get_users(limit: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
        with runtime.lock:
            now = runtime.engine.released_us
            rows = [{"user": k, "risk": round(runtime.engine.risk.decayed(k, now), 6), "events": u.events,
                     "alerts": u.alerts} for k, u in runtime.engine.risk.users.items()]
        rows.sort(key=lambda r: -r["risk"])
        return {"users": rows[:limit], "total": len(rows)}

    @app.get("/users/{user_id}", dependencies=[Depends(auth)])
    def get_user(user_id: str, points: int = Query(200, ge=1, le=5000)) -> dict[str, Any]:
        with runtime.lock:
            eng = runtime.engine
            u = eng.risk.users.get(user_id)
            if u is None:
                raise HTTPException(404, f"no activity seen for user {user_id!r}")
            timeline = [{"time": us_to_iso(t), "score": s, "risk": r} for t, s, r in list(u.timeline)[-points:]]
            sessions = [{"session": s.session_id, "host": s.host, "start": us_to_iso(s.start_us),
                         "activities": s.length} for (usr, _), s in eng.sessions.open.items() if usr == user_id]
            risk_now = eng.risk.decayed(user_id, eng.released_us)
        _, alerts = runtime.alerts.query(user=user_id, limit=50)
        return {"user": user_id, "risk": round(risk_now, 6), "risk_at_last_event": round(u.risk, 6),
                "events": u.events, "alerts": alerts, "open_sessions": sessions, "timeline": timeline}

    @app.get("/metrics", dependencies=[Depends(auth)])
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/thresholds", dependencies=[Depends(auth)])
    def thresholds() -> dict[str, Any]:
        return runtime.engine.thresholds.to_json()

    install_incidents(app, runtime, auth)  # incident triage routes, user profile, static assets

    @app.get("/", dependencies=[Depends(auth)], include_in_schema=False)
    def root(request: Request) -> RedirectResponse:
        q = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/dashboard{q}")

    @app.get("/dashboard", dependencies=[Depends(auth)], include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(dashboard_html(), headers={"Cache-Control": "no-store"})

    return app
