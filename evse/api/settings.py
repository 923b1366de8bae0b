"""Local HTTP API: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from typing import Annotated

from evse.config.meta import Settings, setting


class ApiSettings(Settings, frozen=True):
    """Local HTTP API."""

    enabled: Annotated[bool, setting("Serve the local HTTP API (status, sessions, metrics, events, commands)")] = True
    host: Annotated[
        str, setting("Address the API listens on; keep 127.0.0.1 unless a reverse proxy guards it", min_length=1)
    ] = "127.0.0.1"
    port: Annotated[int, setting("TCP port of the API (0 = any free port)", "", ge=0, le=65535)] = 8080
    token_file: Annotated[
        str,
        setting("File holding the bearer token that write requests must present; empty = write requests are refused"),
    ] = ""
    event_queue_max: Annotated[
        int, setting("Events buffered per event-stream client before the oldest are dropped", "", ge=1)
    ] = 1000
    max_event_clients: Annotated[int, setting("Event-stream clients served at once", "", ge=1)] = 16
    keepalive_s: Annotated[float, setting("Idle time after which the event stream sends a keep-alive", "s", gt=0)] = (
        15.0
    )
    max_page: Annotated[int, setting("Most sessions one GET /api/sessions returns", "", ge=1)] = 500
