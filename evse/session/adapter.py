"""The seam between the session machine and a connector standard.

Rules (everything a protocol adapter may and may not do lives here):
* The session owns the stages, their order (the adapter's `plan`), their timeouts and the outcome. The adapter
  owns the vehicle link: it performs the *steps* of each stage by talking to the vehicle and by calling the
  session's stage API (`StageContext`). It never touches contactors, the power module, the lock or the IMD except
  through that API, so the same safety rules hold for every standard.
* A step returns normally when its stage is done, or raises a `evse.session.errors.SessionEnd` subclass
  (`StageFailure`, `VehicleStop`). The session records the stage; the adapter gives reason and evidence.
* `ENERGY_TRANSFER` runs until the vehicle stops (raise `VehicleStop`) or fails; a station-side stop (user,
  CSMS, shutdown, unplug) *cancels* that step — the adapter tells the vehicle in its `STOPPING` step, where
  `ctx.stop_reason` says why.
* `STOPPING` and `UNLOCK` always run (even after a failure or a safety trip), so the adapter can end the protocol
  cleanly (send its stop frames, wait for the vehicle's welding detection) — they must tolerate a link that is
  already dead and a power path that was already tripped.
* `open()` starts the adapter's link tasks (cyclic frames run across stages); `close()` stops them. Both are
  called by the session exactly once per session.
* Optional attributes the session reads when present: `handles_authorization` (Plug & Charge inside the protocol)
  and `plug_line` (an `evse.session.plug_line.PlugLine`: the standard's connection line, which the safety
  supervisor watches during energy transfer — CHAdeMO's connection check, GB/T's CC1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from evse.session.stages import Stage

if TYPE_CHECKING:
    from evse.session.context import StageContext


@dataclass(frozen=True, slots=True)
class Plan:
    """The order of stages for one connector standard (architecture.md, "The session state machine")."""

    standard: str
    stages: tuple[Stage, ...]
    #: False for CHAdeMO: the vehicle expects ~0 V at the inlet, contactors close without a charger pre-charge
    has_precharge: bool = True


# Order of stages per standard. Stopping and unlock close every plan.
GBT_PLAN = Plan(
    "gbt",
    (
        Stage.CONNECTION_DETECTION,
        Stage.AUTHORIZATION,
        Stage.BMS_WAKE_UP,  # lock, 12 V aux, CHM/BHM
        Stage.INSULATION_TEST,  # before recognition in GB/T
        Stage.PARAMETER_NEGOTIATION,  # CRM/BRM, BCP ⇄ CTS/CML, BRO
        Stage.PRE_CHARGE,
        Stage.CONTACTOR_CLOSURE,  # K1/K2, CRO 0xAA
        Stage.ENERGY_TRANSFER,
        Stage.STOPPING,
        Stage.UNLOCK,
    ),
)
CHADEMO_PLAN = Plan(
    "chademo",
    (
        Stage.CONNECTION_DETECTION,
        Stage.AUTHORIZATION,
        Stage.BMS_WAKE_UP,  # d1 on, vehicle frames arrive
        Stage.PARAMETER_NEGOTIATION,  # 0x100–0x102 ⇄ 0x108/0x109, compatibility, k
        Stage.INSULATION_TEST,  # charger-internal, before d2
        Stage.CONTACTOR_CLOSURE,  # d2, vehicle closes
        Stage.ENERGY_TRANSFER,
        Stage.STOPPING,
        Stage.UNLOCK,
    ),
    has_precharge=False,
)
CCS_PLAN = Plan(
    "ccs",
    (
        Stage.CONNECTION_DETECTION,
        Stage.BMS_WAKE_UP,  # 5 % PWM, SLAC, SDP, SessionSetup
        Stage.AUTHORIZATION,  # EIM or Plug & Charge inside the V2G flow
        Stage.PARAMETER_NEGOTIATION,  # ChargeParameterDiscovery
        Stage.INSULATION_TEST,  # CableCheck
        Stage.PRE_CHARGE,  # PreCharge ≤ 2 A
        Stage.CONTACTOR_CLOSURE,  # PowerDelivery(start)
        Stage.ENERGY_TRANSFER,  # CurrentDemand loop
        Stage.STOPPING,  # PowerDelivery(stop), WeldingDetection, SessionStop
        Stage.UNLOCK,
    ),
)
PLANS: dict[str, Plan] = {p.standard: p for p in (GBT_PLAN, CHADEMO_PLAN, CCS_PLAN)}


class ProtocolAdapter(Protocol):
    """What a connector standard implements for the session."""

    plan: Plan

    async def open(self, ctx: StageContext) -> None: ...

    async def run_stage(self, stage: Stage, ctx: StageContext) -> None:
        """Perform `stage`'s steps; return when done, raise `SessionEnd` to end the session."""
        ...

    async def close(self) -> None: ...
