"""The write endpoints: connector commands (authorize, start, stop, availability) and, in simulated mode, the
simulator (plug, unplug, inject and clear faults). Every one needs the bearer token; bodies are validated by
the msgspec structs of `evse.api.bodies` (a bad body is a 400 naming the field)."""

from __future__ import annotations

from typing import TypeVar

import msgspec
from aiohttp import web

from evse.api.app import CTX, ApiError, connector_of, json_response, require_token
from evse.api.bodies import (
    AuthorizeRequest,
    AvailabilityRequest,
    Body,
    FaultRequest,
    PlugRequest,
    StartRequest,
    StopRequest,
)
from evse.api.serialize import plain
from evse.api.sim import SimControl, SimControlError

B = TypeVar("B", bound=Body)


async def body_of(request: web.Request, kind: type[B], *, optional: bool = False) -> B:
    raw = await request.read()
    if not raw.strip():
        if optional:
            raw = b"{}"
        else:
            raise ApiError(400, f"this request needs a JSON body ({kind.__name__}): see /api/openapi.json")
    try:
        return msgspec.json.decode(raw, type=kind)
    except msgspec.ValidationError as error:
        raise ApiError(400, f"invalid {kind.__name__}: {error}") from None
    except msgspec.DecodeError:
        raise ApiError(400, "the body is not valid JSON") from None


def _sim(request: web.Request) -> SimControl:
    sim = request.app[CTX].sim
    if sim is None:
        raise ApiError(409, "the station is not simulated: simulator commands need `evse sim` or sim drivers")
    return sim


async def authorize(request: web.Request) -> web.Response:
    require_token(request)
    connector_id = connector_of(request)
    body = await body_of(request, AuthorizeRequest)
    result = await request.app[CTX].station.authorize(connector_id, body.id_tag)
    return json_response(plain(result))


async def start(request: web.Request) -> web.Response:
    require_token(request)
    connector_id = connector_of(request)
    body = await body_of(request, StartRequest)
    return json_response({"accepted": bool(await request.app[CTX].station.remote_start(connector_id, body.id_tag))})


async def stop(request: web.Request) -> web.Response:
    require_token(request)
    connector_id = connector_of(request)
    body = await body_of(request, StopRequest, optional=True)
    return json_response({"accepted": bool(await request.app[CTX].station.stop(connector_id, body.reason))})


async def availability(request: web.Request) -> web.Response:
    require_token(request)
    connector_id = connector_of(request)
    body = await body_of(request, AvailabilityRequest)
    now = bool(request.app[CTX].station.set_available(connector_id, body.available))
    return json_response({"accepted": True, "scheduled": not now})


async def sim_profiles(request: web.Request) -> web.Response:
    return json_response({"profiles": list(_sim(request).profiles())})


async def sim_faults(request: web.Request) -> web.Response:
    return json_response({"faults": plain(_sim(request).fault_catalogue())})


async def sim_plug(request: web.Request) -> web.Response:
    require_token(request)
    connector_id = connector_of(request)
    body = await body_of(request, PlugRequest)
    try:
        await _sim(request).plug(connector_id, body.profile, body.soc_pct)
    except SimControlError as error:
        raise ApiError(409, str(error)) from None
    return json_response({"accepted": True})


async def sim_unplug(request: web.Request) -> web.Response:
    require_token(request)
    connector_id = connector_of(request)
    try:
        await _sim(request).unplug(connector_id)
    except SimControlError as error:
        raise ApiError(409, str(error)) from None
    return json_response({"accepted": True})


async def sim_inject(request: web.Request) -> web.Response:
    require_token(request)
    connector_id = connector_of(request)
    body = await body_of(request, FaultRequest)
    try:
        _sim(request).inject_fault(connector_id, body.name, dict(body.params))
    except SimControlError as error:
        raise ApiError(409, str(error)) from None
    return json_response({"accepted": True})


async def sim_clear(request: web.Request) -> web.Response:
    require_token(request)
    connector_id = connector_of(request)
    try:
        cleared = _sim(request).clear_fault(connector_id, request.match_info["name"])
    except SimControlError as error:
        raise ApiError(409, str(error)) from None
    return json_response({"accepted": bool(cleared)})


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_post("/api/connectors/{connector_id}/authorize", authorize)
    r.add_post("/api/connectors/{connector_id}/start", start)
    r.add_post("/api/connectors/{connector_id}/stop", stop)
    r.add_post("/api/connectors/{connector_id}/availability", availability)
    r.add_get("/api/sim/profiles", sim_profiles)
    r.add_get("/api/sim/faults", sim_faults)
    r.add_post("/api/sim/connectors/{connector_id}/plug", sim_plug)
    r.add_post("/api/sim/connectors/{connector_id}/unplug", sim_unplug)
    r.add_post("/api/sim/connectors/{connector_id}/faults", sim_inject)
    r.add_delete("/api/sim/connectors/{connector_id}/faults/{name}", sim_clear)
