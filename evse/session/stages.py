"""The vocabulary of a charging session: stages, reason codes and outcomes.

Everything that names *where* a session is or *why* it ended lives here, so the session machine, the protocol
adapters, OCPP, the session store and `evse diagnose` all speak the same words. The stages follow the seed
article's handshake (connection detection → wake-up → … → energy transfer → stopping); each connector standard
orders them differently (see `evse.session.plan`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Stage(StrEnum):
    """A stage of the charging session. The value is the stable name used in logs, the store and OCPP."""

    IDLE = "idle"
    CONNECTION_DETECTION = "connection_detection"
    BMS_WAKE_UP = "bms_wake_up"
    AUTHORIZATION = "authorization"
    PARAMETER_NEGOTIATION = "parameter_negotiation"
    INSULATION_TEST = "insulation_test"
    PRE_CHARGE = "pre_charge"
    CONTACTOR_CLOSURE = "contactor_closure"
    ENERGY_TRANSFER = "energy_transfer"
    PAUSED = "paused"
    STOPPING = "stopping"
    UNLOCK = "unlock"
    FINISHED = "finished"
    FAULTED = "faulted"


#: Stages that make up the handshake: a failure in one of these is a "won't start".
HANDSHAKE_STAGES: frozenset[Stage] = frozenset(
    {
        Stage.CONNECTION_DETECTION,
        Stage.BMS_WAKE_UP,
        Stage.AUTHORIZATION,
        Stage.PARAMETER_NEGOTIATION,
        Stage.INSULATION_TEST,
        Stage.PRE_CHARGE,
        Stage.CONTACTOR_CLOSURE,
    }
)


class Reason(StrEnum):
    """Why a session failed or stopped. Stable codes: they appear in OCPP vendorErrorCode and in the store."""

    # normal ends
    COMPLETED = "completed"  # vehicle reached its target (SOC, voltage) and stopped normally
    USER_STOP = "user_stop"  # local stop button / HMI / API
    CSMS_STOP = "csms_stop"  # RemoteStopTransaction, Reset, smart-charging 0 W is *not* a stop
    VEHICLE_STOP = "vehicle_stop"  # the vehicle asked to stop (vehicle_reason carries its words)
    UNPLUGGED = "unplugged"
    SHUTDOWN = "shutdown"  # daemon shutting down (SIGTERM)
    # failures
    TIMEOUT = "timeout"
    VEHICLE_INCOMPATIBLE = "vehicle_incompatible"
    INSULATION_FAULT = "insulation_fault"
    VEHICLE_FAULT = "vehicle_fault"
    COMMUNICATION_LOST = "communication_lost"
    SAFETY_TRIP = "safety_trip"
    HARDWARE_FAULT = "hardware_fault"
    PRECHARGE_FAILED = "precharge_failed"
    AUTHORIZATION_REJECTED = "authorization_rejected"
    EMERGENCY_STOP = "emergency_stop"
    PROTOCOL_ERROR = "protocol_error"  # malformed or out-of-sequence vehicle messages


class OutcomeKind(StrEnum):
    COMPLETED = "completed"
    STOPPED_BY_USER = "stopped_by_user"
    STOPPED_BY_CSMS = "stopped_by_csms"
    STOPPED_BY_VEHICLE = "stopped_by_vehicle"
    STOPPED_BY_STATION = "stopped_by_station"  # shutdown, unplug before charging
    FAILED = "failed"


_STOP_KIND: dict[Reason, OutcomeKind] = {
    Reason.COMPLETED: OutcomeKind.COMPLETED,
    Reason.USER_STOP: OutcomeKind.STOPPED_BY_USER,
    Reason.CSMS_STOP: OutcomeKind.STOPPED_BY_CSMS,
    Reason.VEHICLE_STOP: OutcomeKind.STOPPED_BY_VEHICLE,
    Reason.UNPLUGGED: OutcomeKind.STOPPED_BY_STATION,
    Reason.SHUTDOWN: OutcomeKind.STOPPED_BY_STATION,
}


@dataclass(frozen=True, slots=True)
class Outcome:
    """How a session ended. A failure always names the stage it failed in and a reason code."""

    kind: OutcomeKind
    stage: Stage
    reason: Reason
    detail: str = ""
    #: the vehicle's own stop/fault reason where the protocol carries one (e.g. GB/T BST bits, CHAdeMO flags)
    vehicle_reason: str = ""

    @classmethod
    def of(cls, stage: Stage, reason: Reason, detail: str = "", vehicle_reason: str = "") -> Outcome:
        """The outcome for `reason` raised in `stage`: a normal-stop reason maps to its stop kind, anything
        else is a failure."""
        kind = _STOP_KIND.get(reason, OutcomeKind.FAILED)
        return cls(kind=kind, stage=stage, reason=reason, detail=detail, vehicle_reason=vehicle_reason)

    @property
    def failed(self) -> bool:
        return self.kind is OutcomeKind.FAILED

    def summary(self) -> str:
        """One line for logs, the terminal view and OCPP `info` (≤ 50 chars there; trim at the caller)."""
        text = f"{self.kind.value} in {self.stage.value}: {self.reason.value}"
        if self.vehicle_reason:
            text += f" ({self.vehicle_reason})"
        if self.detail:
            text += f" — {self.detail}"
        return text


@dataclass(slots=True)
class StageTiming:
    """Entry and exit time (event-loop seconds) of one stage visit."""

    stage: Stage
    entered_s: float
    exited_s: float | None = None

    @property
    def duration_s(self) -> float | None:
        return None if self.exited_s is None else self.exited_s - self.entered_s


@dataclass(slots=True)
class StageLog:
    """Every stage visit of a session in order, so per-stage handshake durations are known."""

    visits: list[StageTiming] = field(default_factory=list)

    def enter(self, stage: Stage, now_s: float) -> None:
        if self.visits and self.visits[-1].exited_s is None:
            self.visits[-1].exited_s = now_s
        self.visits.append(StageTiming(stage, now_s))

    def close(self, now_s: float) -> None:
        if self.visits and self.visits[-1].exited_s is None:
            self.visits[-1].exited_s = now_s

    def durations_s(self) -> dict[Stage, float]:
        """Total time spent per stage (a stage visited twice, e.g. PAUSED, is summed)."""
        out: dict[Stage, float] = {}
        for visit in self.visits:
            if visit.duration_s is not None:
                out[visit.stage] = out.get(visit.stage, 0.0) + visit.duration_s
        return out
