"""One power-path operation a CAN core asked for (`Do(op)`), performed through the session's stage API.

The stage API (`StageContext`) is the only way an adapter reaches the lock, the IMD, the power module and the
contactors, so the same safety checks hold for every standard; this maps each `Op` onto its call and reports
what the core needs to hear back (the insulation resistance, the matched pre-charge voltage). A refused or failed
call raises the stage API's `SessionEnd`, with its own reason and evidence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from evse.protocols.actions import Do, Op

if TYPE_CHECKING:
    from evse.session.context import StageContext


@dataclass(frozen=True, slots=True)
class OpResult:
    #: INSULATION_TEST: the judged resistance (Ω); PRECHARGE: the matched output voltage (V)
    value: float | None = None
    #: INSULATION_TEST: "warning: 80000 Ω" when the level was not "ok"
    detail: str = ""


async def perform(ctx: StageContext, action: Do) -> OpResult:
    """Carry out `action` through `ctx`; raises `SessionEnd` when the stage API refuses or the hardware fails."""
    match action.op:
        case Op.LOCK:
            await ctx.lock_connector()
        case Op.INSULATION_TEST:
            result = await ctx.insulation_test(action.voltage_v)
            detail = "" if result.level == "ok" else f"{result.level}: {result.resistance_ohm:.0f} Ω"
            return OpResult(result.resistance_ohm, detail)
        case Op.PRECHARGE:
            return OpResult(await ctx.precharge(action.voltage_v, action.tolerance_v, action.current_a))
        case Op.CLOSE_CONTACTORS:
            await ctx.close_contactors()
        case Op.RAMP_DOWN:
            await ctx.ramp_down()
        case Op.OPEN_CONTACTORS:
            await ctx.open_contactors()
        case Op.DISCHARGE:
            await ctx.discharge()
        case Op.UNLOCK:
            await ctx.unlock_connector()
    return OpResult()
