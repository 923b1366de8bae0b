"""What one V2G session has told us, and what we have decided for it: the shared state of bridge and adapter.

The bridge (`bridge.py`, called by the iso15118 SECC while it answers the vehicle) writes the vehicle's side and
sets a phase event when the vehicle reaches a V2G phase; the adapter (`adapter.py`, one step per session stage)
waits for those events and writes our decisions (authorized, negotiated, insulation result, contactors closed,
stopping). Neither side blocks the other: the SECC answers "EVSEProcessing=Ongoing" (or repeats the present
values) until the stage step has decided.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evse.session.context import InsulationResult, StageContext


class Phase(StrEnum):
    """V2G phases the adapter waits for, in session order (DIN SPEC 70121 §9.4 / ISO 15118-2 §8.8.1 sequence)."""

    SESSION_SETUP = "session_setup"
    AUTHORIZATION = "authorization"  # ContractAuthenticationReq (DIN) / AuthorizationReq (-2)
    CHARGE_PARAMETER_DISCOVERY = "charge_parameter_discovery"
    CABLE_CHECK = "cable_check"
    PRE_CHARGE = "pre_charge"
    POWER_DELIVERY_START = "power_delivery_start"
    CURRENT_DEMAND = "current_demand"
    POWER_DELIVERY_STOP = "power_delivery_stop"
    WELDING_DETECTION = "welding_detection"
    SESSION_STOP = "session_stop"
    ENDED = "ended"  # the V2G communication session is over (normally or not)


class InsulationState(StrEnum):
    NOT_STARTED = "not_started"
    RUNNING = "running"
    VALID = "valid"
    WARNING = "warning"
    FAULT = "fault"


@dataclass
class V2gLink:
    """Per-session shared state. Created by the adapter in `open()`, bound to the bridge, unbound in `close()`."""

    ctx: StageContext
    phases: dict[Phase, asyncio.Event] = field(default_factory=lambda: {p: asyncio.Event() for p in Phase})
    phase_t_s: dict[Phase, float] = field(default_factory=dict)
    # ---- the vehicle's side (written by the bridge)
    protocol: str = ""
    evcc_id: str = ""
    ev_max_voltage_v: float | None = None
    ev_max_current_a: float | None = None
    ev_max_power_w: float | None = None
    ev_target_voltage_v: float = 0.0
    ev_target_current_a: float = 0.0
    ev_soc_pct: float | None = None
    ev_error: str = ""
    charging_complete: bool = False
    last_current_demand_s: float | None = None
    current_demand_count: int = 0
    #: a request the vehicle must not make (e.g. a target voltage above its own declared maximum)
    vehicle_violation: str = ""
    end_reason: str = ""
    # ---- our decisions (written by the adapter)
    authorized: bool = False
    negotiated: bool = False
    insulation: InsulationState = InsulationState.NOT_STARTED
    insulation_result: InsulationResult | None = None
    contactors_closed: asyncio.Event = field(default_factory=asyncio.Event)
    contactors_opened: asyncio.Event = field(default_factory=asyncio.Event)
    #: the charger stops the session: CurrentDemandRes carries EVSE_Shutdown / StopCharging
    evse_stopping: bool = False
    #: a safety trip or emergency stop: EVSE_EmergencyShutdown
    emergency: bool = False
    #: a handshake failure on our side (status EVSE_Shutdown so the EV gives up)
    failed: bool = False

    def reach(self, phase: Phase, now_s: float) -> bool:
        """Mark `phase` reached; True the first time."""
        event = self.phases[phase]
        if event.is_set():
            return False
        self.phase_t_s[phase] = now_s
        event.set()
        return True

    def reached(self, phase: Phase) -> bool:
        return self.phases[phase].is_set()

    async def wait(self, *phases: Phase) -> Phase:
        """Wait until any of `phases` (or ENDED) is reached; returns the first one found, in argument order."""
        wanted = (*phases, Phase.ENDED)
        while True:
            for phase in wanted:
                if self.phases[phase].is_set():
                    return phase
            waiters = [asyncio.ensure_future(self.phases[p].wait()) for p in wanted]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
