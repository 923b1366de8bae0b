"""The OpenAPI 3.1 description of the local API, served at GET /api/openapi.json.

Request bodies come from the msgspec structs that validate them (`evse.api.bodies`); response schemas are
written here next to nothing else, and the schemathesis test holds the handlers to them.
"""

from __future__ import annotations

from typing import Any

from evse import __version__
from evse.api.bodies import schemas as body_schemas
from evse.api.stream import STREAM_TYPES
from evse.station.control import AuthorizationStatus, ConnectorStatus


def _nullable(kind: str) -> dict[str, Any]:
    return {"type": [kind, "null"]}


def _obj(required: list[str], props: dict[str, Any], extra: bool = False) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": props, "additionalProperties": extra}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


NUM = {"type": "number"}
STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}

_SNAPSHOT = _obj(
    [
        "connector_id",
        "standard",
        "status",
        "stage",
        "session_id",
        "id_tag",
        "voltage_v",
        "current_a",
        "power_w",
        "energy_wh",
        "soc_pct",
        "current_limit_a",
        "limit_source",
        "error_code",
        "info",
        "extra",
    ],
    {
        "connector_id": INT,
        "standard": STR,
        "status": {"type": "string", "enum": [s.value for s in ConnectorStatus]},
        "stage": STR,
        "session_id": _nullable("string"),
        "id_tag": _nullable("string"),
        "voltage_v": _nullable("number"),
        "current_a": _nullable("number"),
        "power_w": _nullable("number"),
        "energy_wh": _nullable("number"),
        "soc_pct": _nullable("number"),
        "current_limit_a": _nullable("number"),
        "limit_source": STR,
        "error_code": STR,
        "info": STR,
        "extra": {"type": "object"},
    },
)

_SUMMARY_PROPS: dict[str, Any] = {
    "id": STR,
    "connector_id": INT,
    "standard": STR,
    "protocol_version": _nullable("string"),
    "vehicle_key": _nullable("string"),
    "identity": {"type": ["object", "null"], "additionalProperties": STR},
    "id_tag": _nullable("string"),
    "authorization_status": _nullable("string"),
    "started_at": NUM,
    "ended_at": _nullable("number"),
    "last_stage": _nullable("string"),
    "outcome_kind": _nullable("string"),
    "outcome_stage": _nullable("string"),
    "outcome_reason": _nullable("string"),
    "outcome_detail": _nullable("string"),
    "vehicle_reason": _nullable("string"),
    "energy_wh": _nullable("number"),
    "soc_start_pct": _nullable("number"),
    "soc_end_pct": _nullable("number"),
    "peak_power_w": _nullable("number"),
    "limits": {"type": ["object", "null"]},
    "stage_durations": {"type": ["object", "null"], "additionalProperties": NUM},
    "insulation_ohm": _nullable("number"),
    "trace_dropped": INT,
}
_TRACE_ROW = _obj(
    ["t_s", "direction", "kind", "text"],
    {"t_s": NUM, "direction": STR, "kind": STR, "text": STR},
)
_DETAIL_PROPS: dict[str, Any] = {
    **_SUMMARY_PROPS,
    "stages": {
        "type": "array",
        "items": _obj(
            ["stage", "entered_s", "exited_s"], {"stage": STR, "entered_s": NUM, "exited_s": _nullable("number")}
        ),
    },
    "limits_over_time": {
        "type": "array",
        "items": _obj(
            ["t_s", "current_limit_a", "power_limit_w", "source"],
            {
                "t_s": NUM,
                "current_limit_a": _nullable("number"),
                "power_limit_w": _nullable("number"),
                "source": _nullable("string"),
            },
        ),
    },
    "faults": {
        "type": "array",
        "items": _obj(
            ["t_s", "code", "detail", "tripped"],
            {"t_s": NUM, "code": STR, "detail": _nullable("string"), "tripped": BOOL},
        ),
    },
    "pilot": {
        "type": "array",
        "items": _obj(
            ["t_s", "line", "voltage_v", "nominal_v"], {"t_s": NUM, "line": STR, "voltage_v": NUM, "nominal_v": NUM}
        ),
    },
    "insulation": {
        "type": "array",
        "items": _obj(
            ["t_s", "resistance_ohm", "test_voltage_v", "passed"],
            {"t_s": NUM, "resistance_ohm": NUM, "test_voltage_v": _nullable("number"), "passed": BOOL},
        ),
    },
    "samples": {"type": "array", "items": {"type": "object"}},
    "trace": {"type": "array", "items": _ref("TraceRecord")},
}
_RATE = _obj(
    ["key", "sessions", "failed", "success_pct"], {"key": STR, "sessions": INT, "failed": INT, "success_pct": NUM}
)
_REPORT = _obj(
    ["sessions", "failed", "success_pct", "by_connector", "by_protocol", "by_vehicle", "failures", "findings"],
    {
        "sessions": INT,
        "failed": INT,
        "success_pct": _nullable("number"),
        "by_connector": {"type": "array", "items": _RATE},
        "by_protocol": {"type": "array", "items": _RATE},
        "by_vehicle": {"type": "array", "items": _RATE},
        "failures": {
            "type": "array",
            "items": _obj(
                ["stage", "reason", "count", "example_detail"],
                {"stage": STR, "reason": STR, "count": INT, "example_detail": STR},
            ),
        },
        "findings": {
            "type": "array",
            "items": _obj(
                ["rule", "subject", "summary", "advice", "evidence"],
                {"rule": STR, "subject": STR, "summary": STR, "advice": STR, "evidence": {"type": "object"}},
            ),
        },
    },
)


def _connector_param() -> dict[str, Any]:
    return {
        "name": "connector_id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": 999},
    }


def _write(
    summary: str, body: str | None, ok: dict[str, Any], *, sim: bool = False, body_required: bool = True
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "security": [{"bearerAuth": []}],
        "responses": {
            "200": ok,
            "400": _error("The request is malformed; the message says what to fix"),
            "401": _error("No or a wrong bearer token"),
            "403": _error("Write requests are disabled (no token file configured)"),
            "404": _error("No such connector"),
            "409": _error(
                "The simulator cannot do it now (not simulated, no vehicle, …)" if sim else "Not possible now"
            ),
        },
    }
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": _ref(body)}}}
    return op


def build_spec(max_page: int) -> dict[str, Any]:
    accepted = _json(_obj(["accepted"], {"accepted": BOOL}), "Whether the station accepted the command")
    conn = [_connector_param()]
    paths: dict[str, Any] = {
        "/api/status": {
            "get": {
                "summary": "Station and connector status (stage, limits, measurements)",
                "responses": {"200": _json(_ref("Status"), "The station now")},
            }
        },
        "/api/connectors": {
            "get": {
                "summary": "Every connector's snapshot",
                "responses": {"200": _json({"type": "array", "items": _ref("ConnectorSnapshot")}, "Snapshots")},
            }
        },
        "/api/connectors/{connector_id}": {
            "parameters": conn,
            "get": {
                "summary": "One connector's snapshot",
                "responses": {
                    "200": _json(_ref("ConnectorSnapshot"), "The connector now"),
                    "400": _error("Bad connector id"),
                    "404": _error("No such connector"),
                },
            },
        },
        "/api/connectors/{connector_id}/authorize": {
            "parameters": conn,
            "post": _write(
                "Authorize an id tag locally; the session starts when the vehicle is plugged in",
                "AuthorizeRequest",
                _json(_ref("Authorization"), "The authorization result"),
            ),
        },
        "/api/connectors/{connector_id}/start": {
            "parameters": conn,
            "post": _write("Start a session pre-authorized for an id tag", "StartRequest", accepted),
        },
        "/api/connectors/{connector_id}/stop": {
            "parameters": conn,
            "post": _write("Stop the session on the connector", "StopRequest", accepted, body_required=False),
        },
        "/api/connectors/{connector_id}/availability": {
            "parameters": conn,
            "post": _write(
                "Make the connector operative or inoperative",
                "AvailabilityRequest",
                _json(
                    _obj(["accepted", "scheduled"], {"accepted": BOOL, "scheduled": BOOL}),
                    "Applied now, or scheduled for the end of the running session",
                ),
            ),
        },
        "/api/sessions": {
            "get": {
                "summary": "Stored sessions, newest first",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": max_page}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10**9}},
                    {
                        "name": "connector_id",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 999},
                    },
                    {"name": "failed", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": {
                    "200": _json({"type": "array", "items": _ref("SessionSummary")}, "Session summaries"),
                    "400": _error("A query parameter is malformed"),
                },
            }
        },
        "/api/sessions/{session_id}": {
            "parameters": [{"name": "session_id", "in": "path", "required": True, "schema": STR}],
            "get": {
                "summary": "One session with stages, limits, faults, pilot, insulation, samples and trace",
                "parameters": [{"name": "samples", "in": "query", "schema": {"type": "boolean"}}],
                "responses": {
                    "200": _json(_ref("SessionDetail"), "The session"),
                    "400": _error("A query parameter is malformed"),
                    "404": _error("No such session"),
                },
            },
        },
        "/api/sessions/{session_id}/trace": {
            "parameters": [{"name": "session_id", "in": "path", "required": True, "schema": STR}],
            "get": {
                "summary": "The session's handshake trace (candump lines, decoded V2G messages)",
                "responses": {
                    "200": _json({"type": "array", "items": _ref("TraceRecord")}, "Trace records in time order"),
                    "404": _error("No such session"),
                },
            },
        },
        "/api/diagnose": {
            "get": {
                "summary": "The diagnose report over the stored sessions",
                "responses": {"200": _json(_ref("Report"), "Success rates, failures, findings")},
            }
        },
        "/api/config": {
            "get": {
                "summary": "The configuration in force, secrets redacted",
                "responses": {"200": _json({"type": "object"}, "Configuration")},
            }
        },
        "/api/events": {
            "get": {
                "summary": "Server-sent events: stage changes, measurements, faults, outcomes (for an HMI)",
                "parameters": [
                    {
                        "name": "connector_id",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 999},
                    },
                    {
                        "name": "types",
                        "in": "query",
                        "description": "Comma-separated event types; default all: " + ", ".join(STREAM_TYPES),
                        "schema": STR,
                    },
                ],
                "responses": {
                    "200": {
                        "description": "An endless event stream",
                        "content": {"text/event-stream": {"schema": STR}},
                    },
                    "400": _error("A query parameter is malformed"),
                    "503": _error("Too many stream clients"),
                },
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics",
                "responses": {
                    "200": {"description": "Exposition format 0.0.4", "content": {"text/plain": {"schema": STR}}}
                },
            }
        },
        "/api/sim/profiles": {
            "get": {
                "summary": "Simulation: vehicle profiles that can be plugged in",
                "responses": {
                    "200": _json(_obj(["profiles"], {"profiles": {"type": "array", "items": STR}}), "Profiles"),
                    "409": _error("The station is not simulated"),
                },
            }
        },
        "/api/sim/faults": {
            "get": {
                "summary": "Simulation: faults that can be injected, with parameters and defaults",
                "responses": {
                    "200": _json(
                        _obj(["faults"], {"faults": {"type": "array", "items": {"type": "object"}}}), "Faults"
                    ),
                    "409": _error("The station is not simulated"),
                },
            }
        },
        "/api/sim/connectors/{connector_id}/plug": {
            "parameters": conn,
            "post": _write("Simulation: plug a vehicle profile in", "PlugRequest", accepted, sim=True),
        },
        "/api/sim/connectors/{connector_id}/unplug": {
            "parameters": conn,
            "post": _write("Simulation: unplug the vehicle", None, accepted, sim=True),
        },
        "/api/sim/connectors/{connector_id}/faults": {
            "parameters": conn,
            "post": _write("Simulation: inject a fault", "FaultRequest", accepted, sim=True),
        },
        "/api/sim/connectors/{connector_id}/faults/{name}": {
            "parameters": [*conn, {"name": "name", "in": "path", "required": True, "schema": STR}],
            "delete": _write("Simulation: clear a fault", None, accepted, sim=True),
        },
    }
    components: dict[str, Any] = {
        "Error": _obj(["error"], {"error": STR}),
        "ConnectorSnapshot": _SNAPSHOT,
        "Status": _obj(
            ["station_id", "simulated", "connectors", "store"],
            {
                "station_id": STR,
                "simulated": BOOL,
                "connectors": {"type": "array", "items": _ref("ConnectorSnapshot")},
                "store": {"type": "object"},
                "rfid": _obj(
                    ["driver", "fault", "cards_read", "bad_frames", "outcomes"],
                    {
                        "driver": STR,
                        "fault": _nullable("string"),
                        "cards_read": INT,
                        "bad_frames": INT,
                        "outcomes": {"type": "object", "additionalProperties": INT},
                    },
                ),
            },
        ),
        "Authorization": _obj(
            ["status", "id_tag", "parent_id_tag", "source"],
            {
                "status": {"type": "string", "enum": [s.value for s in AuthorizationStatus]},
                "id_tag": STR,
                "parent_id_tag": _nullable("string"),
                "source": STR,
            },
        ),
        "SessionSummary": {
            "type": "object",
            "required": ["id", "connector_id", "standard"],
            "properties": _SUMMARY_PROPS,
        },
        "SessionDetail": {
            "type": "object",
            "required": ["id", "connector_id", "standard", "stages", "faults", "pilot", "insulation"],
            "properties": _DETAIL_PROPS,
        },
        "TraceRecord": _TRACE_ROW,
        "Report": _REPORT,
        **body_schemas(),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "evse local API",
            "version": __version__,
            "description": "Status, sessions, diagnosis, metrics and an event stream of one charger; "
            "commands with a bearer token. Bound to 127.0.0.1 by default.",
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }
