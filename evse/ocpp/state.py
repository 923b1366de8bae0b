"""What the OCPP client remembers per connector between events."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evse.ocpp.faults import ErrorReport
from evse.session.events import MeterSample


@dataclass(slots=True)
class ConnectorState:
    connector_id: int
    status: str = "Available"  # as last reported by the station (ConnectorStatusChanged)
    error: ErrorReport | None = None  # the fault in force (FaultRaised / failed outcome)
    reported: tuple[str, str] | None = None  # (status, errorCode) last sent to the CSMS
    session_id: str | None = None
    stage: str = "idle"
    id_tag: str | None = None  # the id tag that started (or will start) the transaction
    tx_local: int | None = None
    tx_start_epoch_s: float | None = None
    reservation_id: int | None = None
    last_sample: MeterSample | None = None
    stop_data: list[dict[str, Any]] = field(default_factory=list)  # StopTxnSampledData meter values
    stop_reason: str | None = None  # an override (SoftReset, HardReset, UnlockCommand, DeAuthorized)
    scheduled_available: bool | None = None  # ChangeAvailability waiting for the transaction to end
    available: bool = True
    vehicle: dict[str, str] = field(default_factory=dict)  # standard, protocol version, identity
    limits: dict[str, float] = field(default_factory=dict)  # the negotiated limits
    data_sent: dict[str, str] = field(default_factory=dict)  # session data last sent per messageId (no repeats)
