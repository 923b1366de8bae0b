"""The event stream for a charger's display (HMI): server-sent events of stage changes and measurements.

Each client gets its own bounded queue fed by the event bus; a slow client loses its oldest events (counted in
`dropped`), it never slows the bus. Handshake trace records are left out (they are for the store, and too
chatty for a display); everything else flows, optionally filtered by connector and event type.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from evse.session.events import Event, TraceRecord

#: event types a client may ask for (the names of `evse.session.events` classes)
STREAM_TYPES = (
    "SessionStarted",
    "StageChanged",
    "VehicleIdentified",
    "LimitsNegotiated",
    "LimitChanged",
    "MeterSample",
    "InsulationMeasured",
    "PilotQuality",
    "FaultRaised",
    "SessionEnded",
    "ConnectorStatusChanged",
)


@dataclass(eq=False)
class StreamClient:
    connector_id: int | None
    types: frozenset[str]
    maxlen: int
    queue: deque[Event] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: int = 0

    def offer(self, event: Event) -> None:
        if self.connector_id is not None and event.connector_id != self.connector_id:
            return
        if type(event).__name__ not in self.types:
            return
        if len(self.queue) >= self.maxlen:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append(event)
        self.wake.set()


class EventHub:
    """Fans bus events out to the connected stream clients."""

    def __init__(self, queue_max: int, max_clients: int) -> None:
        self.queue_max = queue_max
        self.max_clients = max_clients
        self.clients: set[StreamClient] = set()

    def on_event(self, event: Event) -> None:
        if isinstance(event, TraceRecord) or not self.clients:
            return
        for client in tuple(self.clients):
            client.offer(event)

    def join(self, connector_id: int | None, types: frozenset[str]) -> StreamClient | None:
        """A new client, or None when `max_clients` are already served."""
        if len(self.clients) >= self.max_clients:
            return None
        client = StreamClient(connector_id, types, self.queue_max)
        self.clients.add(client)
        return client

    def leave(self, client: StreamClient) -> None:
        self.clients.discard(client)
