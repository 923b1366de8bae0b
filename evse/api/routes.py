"""The local API application: every route in one table (read endpoints in `evse.api.app`, write endpoints in
`evse.api.commands`)."""

from __future__ import annotations

from aiohttp import web

from evse.api import commands
from evse.api.app import (
    CTX,
    ApiContext,
    config,
    connector,
    connectors,
    diagnose,
    errors_middleware,
    events,
    metrics,
    openapi,
    session,
    sessions,
    status,
    trace,
)


def create_app(ctx: ApiContext) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=64 * 1024)
    app[CTX] = ctx
    r = app.router
    r.add_get("/api/openapi.json", openapi)
    r.add_get("/api/status", status)
    r.add_get("/api/connectors", connectors)
    r.add_get("/api/connectors/{connector_id}", connector)
    r.add_get("/api/sessions", sessions)
    r.add_get("/api/sessions/{session_id}", session)
    r.add_get("/api/sessions/{session_id}/trace", trace)
    r.add_get("/api/diagnose", diagnose)
    r.add_get("/api/config", config)
    r.add_get("/api/events", events)
    r.add_get("/metrics", metrics)
    commands.add_routes(app)
    return app
