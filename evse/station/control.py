"""Commands *down* into the station, as OCPP, the local API and the CLI see it.

`evse.station.Station` implements `StationControl`. The upper layers (evse.ocpp, evse.api) depend on this
Protocol and on the events of `evse.session.events`, never on the session machine itself.

Authorization is a hook the other way round: the station asks an `Authorizer` (free vend, the local allow-list,
and the OCPP client with its cache and local list) whether an id token may charge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class ConnectorStatus(StrEnum):
    """Operator-facing availability; the names are OCPP 1.6 ChargePointStatus."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class AuthorizationStatus(StrEnum):
    """OCPP 1.6 AuthorizationStatus names."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    CONCURRENT_TX = "ConcurrentTx"


@dataclass(frozen=True, slots=True)
class Authorization:
    status: AuthorizationStatus
    id_tag: str
    parent_id_tag: str | None = None
    source: str = ""  # "free_vend", "allow_list", "cache", "local_list", "csms", "remote_start"


class Authorizer(Protocol):
    async def authorize(self, connector_id: int, id_tag: str) -> Authorization: ...


@dataclass(frozen=True, slots=True)
class ConnectorSnapshot:
    """The state of one connector at an instant (for the API, OCPP StatusNotification and the HMI)."""

    connector_id: int
    standard: str
    status: ConnectorStatus
    stage: str
    session_id: str | None
    id_tag: str | None
    voltage_v: float
    current_a: float
    power_w: float
    energy_wh: float
    soc_pct: float | None
    current_limit_a: float
    limit_source: str
    error_code: str = "NoError"
    info: str = ""
    extra: dict[str, object] = field(default_factory=dict)


class StationControl(Protocol):
    def connector_ids(self) -> list[int]: ...
    def snapshot(self, connector_id: int) -> ConnectorSnapshot: ...

    async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
        """A local identification (RFID, HMI): authorize through the Authorizer and start when plugged."""
        ...

    async def remote_start(self, connector_id: int, id_tag: str) -> bool:
        """Start a session pre-authorized by the CSMS; False if the connector cannot start now."""
        ...

    async def stop(self, connector_id: int, reason: str) -> bool:
        """Stop the session on `connector_id` (reason: a `evse.session.stages.Reason` value)."""
        ...

    def set_available(self, connector_id: int, available: bool) -> bool:
        """Operative/Inoperative. Returns False when it must wait for the running session to end (scheduled)."""
        ...

    def set_csms_limit(self, connector_id: int, current_a: float | None, power_w: float | None) -> None:
        """The CSMS's limit (smart charging composite schedule), None = no limit. Takes effect at once."""
        ...

    async def unlock(self, connector_id: int) -> bool: ...
    def set_authorizer(self, authorizer: Authorizer) -> None: ...


class OcppStationControl(StationControl, Protocol):
    """What the OCPP client uses beyond `StationControl` when the station offers it (optional: the client
    checks for each method, so other implementations of StationControl need not have them)."""

    def set_reserved(self, connector_id: int, reserved: bool) -> None:
        """ReserveNow accepted (True) / the reservation used, cancelled or expired (False): an idle connector
        shows Reserved meanwhile (status, API, HMI)."""
        ...

    def set_connection_timeout(self, timeout_s: float | None) -> None:
        """ConnectionTimeOut: seconds an identification waits for the plug and a plugged vehicle waits for an
        identification before the attempt is abandoned (connector Available again); None: the station's own."""
        ...
