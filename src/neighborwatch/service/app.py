"""FastAPI app over a `Runtime`: intake, alerts, users, SSE, metrics, dashboard.

Every route but `/healthz` (and the dashboard's static script and style) needs the token, as
`Authorization: Bearer <token>`; only what a browser opens directly — the dashboard page and the
SSE stream — also takes `?token=<token>` (a URL ends up in histories and logs; a header does not).
Bad input is a 4xx with a message, never a 500: bodies are read with a size cap and a JSON parser
that refuses NaN / Infinity and survives any nesting depth, and every event goes through the same
validation as the Redis path. Every response carries security headers (a CSP without inline
script, nosniff, no framing).
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
from fastapi.openapi.utils import get_openapi
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    StreamingResponse,
)
from pydantic import ValidationError

from neighborwatch.service.incidents import install as install_incidents
from neighborwatch.service.schemas import MAX_OFFSET, EventBatch, StatusUpdate
from neighborwatch.streaming.events import DEFAULT_TIME_RANGE, TimeRange, parse_event
from neighborwatch.streaming.runtime import Runtime
from neighborwatch.streaming.sources import Backpressure

SSE_QUEUE = 1000  # alerts buffered per SSE client; a client this far behind is dropped
MAX_SMALL_BODY = 64 * 1024  # bodies other than POST /events (a status update)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def dashboard_html() -> str:
    """index.html: it loads its script and style from /static (the CSP allows no inline script)."""
    return resources.files("neighborwatch.service").joinpath("static", "index.html").read_text(encoding="utf-8")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> Any:
    """Strict JSON → Python, or HTTPException 400 naming the problem (never a 500)."""
    try:
        raw = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise HTTPException(400, "body is nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise HTTPException(400, f"body is not valid JSON: {str(e)[:200]}") from None
    return raw


async def read_body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPException(413, f"body of {length} bytes exceeds the limit of {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"body exceeds the limit of {limit} bytes")
    return bytes(body)


def create_app(
    runtime: Runtime,
    token: str,
    publisher: Any = None,
    max_batch: int = 10_000,
    max_body: int = 8 * 1024 * 1024,
    title: str = "neighborwatch",
    time_range: TimeRange = DEFAULT_TIME_RANGE,
) -> FastAPI:
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

    @app.middleware("http")
    async def security_headers(request: Request, call_next):
        response = await call_next(request)
        for k, v in SECURITY_HEADERS.items():
            response.headers.setdefault(k, v)
        return response

    def _check(given: str) -> None:
        if not given or not secrets.compare_digest(given.encode(errors="replace"), token.encode()):
            raise HTTPException(
                status_code=401, detail="missing or wrong token", headers={"WWW-Authenticate": "Bearer"}
            )

    def auth(request: Request) -> None:
        """The bearer header only (API clients can always send one)."""
        header = request.headers.get("authorization", "")
        _check(header[7:] if header.lower().startswith("bearer ") else "")

    def browser_auth(request: Request) -> None:
        """The header, or `?token=` for what a browser opens itself (page, EventSource)."""
        header = request.headers.get("authorization", "")
        _check(header[7:] if header.lower().startswith("bearer ") else request.query_params.get("token", ""))

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        body = runtime.health()
        return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

    @app.get("/openapi.json", dependencies=[Depends(auth)], include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    batch_schema = EventBatch.model_json_schema(ref_template="#/components/schemas/{model}")
    batch_defs = batch_schema.pop("$defs", {})

    @app.post(
        "/events",
        status_code=202,
        dependencies=[Depends(auth)],
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": batch_schema}}},
            "responses": {
                "400": {"description": "not JSON"},
                "413": {"description": "too large"},
                "422": {"description": "invalid events"},
                "429": {"description": "busy, retry"},
            },
        },
    )
    async def post_events(request: Request) -> dict[str, Any]:
        try:
            body = await read_body(request, max_body)
        except HTTPException:
            runtime.metrics.http_rejected["too_large"] += 1
            raise
        try:
            raw = parse_json(body)
        except HTTPException:
            runtime.metrics.http_rejected["malformed"] += 1
            raise
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
        now = time.monotonic()
        try:  # the checks every intake path shares (time range, numbers, encodable text)
            events = [parse_event(d, arrived=now, time_range=time_range) for d in dicts]
        except ValueError as e:
            runtime.metrics.http_rejected["invalid"] += 1
            raise HTTPException(422, {"error": "invalid events", "errors": [{"msg": str(e)[:500]}]}) from None
        try:
            if publisher is not None:
                publisher.publish(dicts)
            else:
                runtime.enqueue(events)
        except Backpressure as e:
            runtime.metrics.http_rejected["backpressure"] += 1
            raise HTTPException(429, f"busy: {e}; retry later", headers={"Retry-After": "1"}) from None
        except Exception as e:  # noqa: BLE001 — the event store (Redis) is away: say so, retryable
            runtime.metrics.http_rejected["unavailable"] += 1
            raise HTTPException(
                503, f"event store unavailable ({type(e).__name__}); retry later", headers={"Retry-After": "5"}
            ) from None
        return {"accepted": len(dicts)}

    @app.get("/alerts", dependencies=[Depends(auth)])
    def get_alerts(
        status: str | None = Query(None, pattern="^(open|confirmed|dismissed)$"),
        user: str | None = None,
        kind: str | None = Query(None, pattern="^(activity|risk)$"),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
        limit: int = Query(50, ge=1, le=500),
    ) -> dict[str, Any]:
        total, alerts = runtime.alerts.query(status=status, user=user, kind=kind, offset=offset, limit=limit)
        return {"total": total, "offset": offset, "limit": limit, "alerts": alerts}

    @app.get("/alerts/stream", dependencies=[Depends(browser_auth)])
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
                    except TimeoutError:
                        yield ": keep-alive\n\n"
            finally:
                listeners.discard(q)

        return StreamingResponse(
            gen(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        )

    @app.get("/alerts/{alert_id}", dependencies=[Depends(auth)])
    def get_alert(alert_id: str) -> dict[str, Any]:
        a = runtime.alerts.get(alert_id)
        if a is None:
            raise HTTPException(404, f"no alert {alert_id[:200]!r}")
        return a

    status_body = {
        "requestBody": {"required": True, "content": {"application/json": {"schema": StatusUpdate.model_json_schema()}}}
    }

    async def _set_status(alert_id: str, request: Request) -> dict[str, Any]:
        raw = parse_json(await read_body(request, MAX_SMALL_BODY))  # any nesting depth is a 400
        try:
            update = StatusUpdate.model_validate(raw)
        except ValidationError as e:
            errors = [{"loc": list(x["loc"]), "msg": x["msg"]} for x in e.errors()[:20]]
            raise HTTPException(422, {"error": "invalid status update", "errors": errors}) from None
        a = runtime.alerts.set_status(alert_id, update.status, update.note)
        if a is None:
            raise HTTPException(404, f"no alert {alert_id[:200]!r}")
        return a

    app.post("/alerts/{alert_id}/status", dependencies=[Depends(auth)], openapi_extra=status_body)(_set_status)
    app.patch("/alerts/{alert_id}", dependencies=[Depends(auth)], openapi_extra=status_body)(_set_status)

    @app.get("/users", dependencies=[Depends(auth)])
    def get_users(limit: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
        return runtime.top_users(limit)

    @app.get("/users/{user_id}", dependencies=[Depends(auth)])
    def get_user(user_id: str, points: int = Query(200, ge=1, le=5000)) -> dict[str, Any]:
        u = runtime.user(user_id, points)
        if u is None:
            raise HTTPException(404, f"no activity seen for user {user_id[:200]!r}")
        return u

    @app.get("/metrics", dependencies=[Depends(auth)])
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(runtime.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/thresholds", dependencies=[Depends(auth)])
    def thresholds() -> dict[str, Any]:
        return runtime.thresholds()

    install_incidents(app, runtime, auth)  # incident triage routes, user profile, static assets

    @app.get("/", dependencies=[Depends(browser_auth)], include_in_schema=False)
    def root(request: Request) -> RedirectResponse:
        q = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"/dashboard{q}")

    @app.get("/dashboard", dependencies=[Depends(browser_auth)], include_in_schema=False)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(dashboard_html(), headers={"Cache-Control": "no-store"})

    def custom_openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(batch_defs)
            schema["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
            schema["security"] = [{"bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = custom_openapi  # type: ignore[method-assign]
    return app
