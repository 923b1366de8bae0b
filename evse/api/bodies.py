"""Request bodies of the write endpoints: decoded and validated by msgspec, and the same structs give the
OpenAPI schemas (`evse.api.openapi`), so the description and the validation cannot drift apart."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

#: OCPP 1.6 IdToken is CiString20Type
ID_TAG_MAX_LEN = 20

IdTag = Annotated[str, msgspec.Meta(min_length=1, max_length=ID_TAG_MAX_LEN, description="Identification token")]


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class AuthorizeRequest(Body, frozen=True):
    """A local identification (RFID card, HMI): authorize it and start when the vehicle is plugged in."""

    id_tag: IdTag


class StartRequest(Body, frozen=True):
    """Start a session pre-authorized for `id_tag` (as a remote start does)."""

    id_tag: IdTag


class StopRequest(Body, frozen=True):
    """Stop the session on the connector."""

    reason: Literal["user_stop", "csms_stop", "emergency_stop"] = "user_stop"


class AvailabilityRequest(Body, frozen=True):
    """Make the connector operative (true) or inoperative (false)."""

    available: bool


class PlugRequest(Body, frozen=True):
    """Simulation: plug a vehicle profile in."""

    profile: Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="Vehicle profile name or path")]
    soc_pct: Annotated[float, msgspec.Meta(ge=0, le=100, description="Initial state of charge")] | None = None


class FaultRequest(Body, frozen=True):
    """Simulation: inject a fault (see GET /api/sim/faults for names and parameters)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    params: dict[str, Any] = {}


BODIES: tuple[type[Body], ...] = (
    AuthorizeRequest,
    StartRequest,
    StopRequest,
    AvailabilityRequest,
    PlugRequest,
    FaultRequest,
)


def schemas() -> dict[str, Any]:
    """JSON Schemas of the bodies, keyed by struct name, refs pointing at OpenAPI components."""
    _, components = msgspec.json.schema_components(BODIES, ref_template="#/components/schemas/{name}")
    return components
