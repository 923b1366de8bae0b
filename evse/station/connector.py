"""One connector of the station: its hardware roles, envelope and supervisor (for the daemon's lifetime), the
factory of its protocol adapter, and its running session (if any)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from evse.safety.envelope import CableLimits, ChargerLimits, Envelope
from evse.safety.supervisor import Supervisor
from evse.session.adapter import ProtocolAdapter
from evse.session.hardware import ConnectorRoles
from evse.session.session import Session
from evse.session.stages import Outcome
from evse.station.control import Authorization, ConnectorStatus


@dataclass(slots=True)
class ConnectorSpec:
    """What the station needs to run sessions on one connector (built by `evse.station.build`)."""

    connector_id: int
    standard: str
    roles: ConnectorRoles
    charger: ChargerLimits
    cable: CableLimits
    #: a fresh protocol adapter for each session
    new_adapter: Callable[[], ProtocolAdapter]
    #: connector-level protocol resources (e.g. the CCS SECC) started with the station and stopped with it
    start: Callable[[], Awaitable[None]] | None = None
    stop: Callable[[], Awaitable[None]] | None = None


@dataclass(slots=True)
class PendingAuthorization:
    """An identification that arrived before the plug (RFID swipe, remote start), valid until `expires_s`."""

    authorization: Authorization
    expires_s: float


@dataclass(slots=True)
class Connector:
    spec: ConnectorSpec
    envelope: Envelope
    supervisor: Supervisor
    session: Session | None = None
    task: asyncio.Task[Outcome] | None = None
    available: bool = True
    #: an "inoperative" request waiting for the running session to end
    unavailable_pending: bool = False
    plugged: bool = False
    #: a session ended and the vehicle is still plugged (Finishing)
    session_over: bool = False
    last_outcome: Outcome | None = None
    pending: PendingAuthorization | None = None
    id_tag: str | None = None
    status: ConnectorStatus | None = None
    csms_current_a: float | None = None
    csms_power_w: float | None = None
    sessions: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def connector_id(self) -> int:
        return self.spec.connector_id

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()
