"""Recognition, configuration and the pre-charge checks of the GB/T charger core (gbt27930.md steps 5–7).

Part of `GbtCore` (it reads and drives the core's schedule, timers and outputs); split out so each file reads in one
sitting. Theory: CRM 0x00 every 250 ms → BRM (via TP, ≤ `brm_timeout_s`) → identify the vehicle, CRM 0xAA →
BCP (≤ `bcp_timeout_s`; a repeated BRM is accepted) → limits, CTS + CML → BRO 0x00 (≤ `bro_timeout_s`) and 0xAA
(≤ `bro_ready_timeout_s`). A receive timeout sends CEM for `cem_repeat_s`, then recognition restarts from
CRM 0x00, at most `rehandshake_attempts` times.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evse.protocols.gbt import messages as m
from evse.protocols.gbt.actions import Do, Identify, Note, Op, Output, SetLimits, VehicleUpdate
from evse.protocols.gbt.sequence import CML_PERIOD_S, CRM_PERIOD_S, CTS_PERIOD_S, Phase
from evse.protocols.gbt.wire import GbtMessage
from evse.session.context import VehicleLimits
from evse.session.errors import StageFailure
from evse.session.stages import Reason, Stage

if TYPE_CHECKING:
    from evse.protocols.gbt.core import GbtCore

#: BRM B4 battery types (GB/T 27930-2015 BRM table)
BATTERY_TYPES = {
    1: "lead-acid",
    2: "NiMH",
    3: "LFP",
    4: "LMO",
    5: "LCO",
    6: "NCM",
    7: "Li-polymer",
    8: "LTO",
    0xFF: "other",
}
#: the message each negotiation timer waits for, and its CEM field
_WAITS = {
    "brm": ("BRM", "brm_timeout"),
    "bcp": ("BCP", "bcp_timeout"),
    "bro": ("BRO", "bro_timeout"),
    "bro_ready": ("BRO 0xAA", "bro_timeout"),
}


class Negotiation:
    def __init__(self, core: GbtCore) -> None:
        self.core = core
        self.brm: m.Brm | None = None
        self.bcp: m.Bcp | None = None
        self.bro: m.Bro | None = None
        self.attempts = 0
        self._retry_pending = False
        self._last_timeout = ""

    @property
    def link_established(self) -> bool:
        """The BMS has identified itself: the stop exchange (BST/BSD) is owed."""
        return self.brm is not None

    # ------------------------------------------------------------------ recognition
    def start(self, now: float, out: Output) -> None:
        core, s = self.core, self.core.settings
        self.brm = self.bcp = self.bro = None
        core.cyclic.stop("CTS", "CML")
        crm = m.Crm(recognition=m.NOT_READY, charger_number=s.charger_number, region_code=s.region_code)
        if core.cyclic.active("CRM"):
            core.cyclic.update("CRM", core.frame(crm).data)
        else:
            core.start_cyclic(crm, CRM_PERIOD_S, now, out)
        core.arm("brm", now + s.brm_timeout_s)

    def on_message(self, message: GbtMessage, now: float, out: Output) -> None:
        core = self.core
        if (
            isinstance(message, m.Bro)
            and message.ready == m.NOT_READY
            and core.stage in (Stage.PRE_CHARGE, Stage.CONTACTOR_CLOSURE)
            and core.end is None
        ):
            # the BMS withdrew its readiness (gbt27930.md step 7): stop before K1/K2 close or power flows
            core.fail(StageFailure(Reason.VEHICLE_FAULT, "BRO went back to 0x00 (BMS no longer ready)"), out)
            return
        if core.stage is not Stage.PARAMETER_NEGOTIATION or self._retry_pending:
            return
        match message:
            case m.Brm() if self.bcp is None:
                self._on_brm(message, now, out)
            case m.Bcp() if self.brm is not None and self.bcp is None:
                self._on_bcp(message, now, out)
            case m.Bro() if self.bcp is not None:
                self._on_bro(message, now, out)

    def _on_brm(self, brm: m.Brm, now: float, out: Output) -> None:
        core = self.core
        repeat = self.brm is not None
        self.brm = brm
        if repeat:
            return  # some BMSs repeat BRM after CRM 0xAA: accepted, nothing else changes
        core.disarm("brm")
        version = f"{brm.version_major}.{brm.version_minor}" if brm.version_major is not None else "?"
        edition = "2011" if brm.software_version is None else "2015"
        identity = {
            "vin": brm.vin,
            "bms_protocol_version": version,
            "battery_type": BATTERY_TYPES.get(brm.battery_type or -1, str(brm.battery_type)),
            "manufacturer": brm.manufacturer,
            "brm_length": "41" if brm.software_version is None else "49",
        }
        if brm.rated_capacity_ah is not None:
            identity["rated_capacity_ah"] = f"{brm.rated_capacity_ah:g}"
        if brm.rated_voltage_v is not None:
            identity["rated_voltage_v"] = f"{brm.rated_voltage_v:g}"
        if brm.software_version is not None:
            identity["bms_software"] = brm.software_version
        if core.legacy:
            identity["no_bhm"] = "true"
        out.actions.append(Identify(f"GB/T 27930-{edition} V{version}", identity))
        crm = m.Crm(
            recognition=m.READY, charger_number=core.settings.charger_number, region_code=core.settings.region_code
        )
        core.cyclic.update("CRM", core.frame(crm).data)
        out.frames.append(core.frame(crm))  # answer at once: the BMS waits for CRM 0xAA before sending BCP
        core.arm("bcp", now + core.settings.bcp_timeout_s)

    def _on_bcp(self, bcp: m.Bcp, now: float, out: Output) -> None:
        core, s = self.core, self.core.settings
        missing = [name for name in ("max_total_voltage_v", "max_charge_current_a") if getattr(bcp, name) is None]
        if missing:
            core.fail(StageFailure(Reason.PROTOCOL_ERROR, f"BCP {', '.join(missing)} out of range"), out)
            return
        assert bcp.max_total_voltage_v is not None and bcp.max_charge_current_a is not None
        if bcp.max_total_voltage_v < core.offer.min_voltage_v:
            detail = (
                f"BCP maximum charge voltage {bcp.max_total_voltage_v:.0f} V is below the charger's minimum "
                f"{core.offer.min_voltage_v:.0f} V"
            )
            core.fail(StageFailure(Reason.VEHICLE_INCOMPATIBLE, detail), out)
            return
        self.bcp = bcp
        core.disarm("bcp")
        core.cyclic.stop("CRM")
        limits = VehicleLimits(
            max_voltage_v=bcp.max_total_voltage_v,
            max_current_a=bcp.max_charge_current_a,
            max_cell_voltage_v=bcp.max_cell_voltage_v,
            max_temperature_c=bcp.max_temperature_c,
        )
        out.actions.append(SetLimits(limits))
        extra = {"bcp_nominal_energy_kwh": bcp.nominal_energy_kwh, "bcp_pack_voltage_v": bcp.pack_voltage_v}
        out.actions.append(VehicleUpdate(soc_pct=bcp.soc_pct, battery_voltage_v=bcp.pack_voltage_v, extra=extra))
        if s.send_cts:
            core.start_cyclic(core.cts(now), CTS_PERIOD_S, now, out)
        core.start_cyclic(self.cml(), CML_PERIOD_S, now, out)
        core.arm("bro", now + s.bro_timeout_s)
        core.arm("bro_ready", now + s.bro_ready_timeout_s)

    def cml(self) -> m.Cml:
        offer = self.core.offer
        return m.Cml(
            max_output_voltage_v=offer.max_voltage_v,
            min_output_voltage_v=offer.min_voltage_v,
            max_output_current_a=offer.max_current_a,
            min_output_current_a=offer.min_current_a,
        )

    def _on_bro(self, bro: m.Bro, now: float, out: Output) -> None:
        core = self.core
        self.bro = bro
        core.disarm("bro")
        if bro.ready == m.READY:
            core.disarm("bro_ready")
            core.done_stage(Stage.PARAMETER_NEGOTIATION, out)

    # ------------------------------------------------------------------ timeouts and re-handshake
    def on_timer(self, name: str, now: float, out: Output) -> bool:
        if name == "pack_voltage":
            self.check_pack_voltage(now, out)  # a last look; the timer is gone, so a mismatch now fails
            return True
        if name not in _WAITS:
            return False
        core, s = self.core, self.core.settings
        what, cem_field = _WAITS[name]
        limits = {"brm": s.brm_timeout_s, "bcp": s.bcp_timeout_s, "bro": s.bro_timeout_s}
        limit = limits.get(name, s.bro_ready_timeout_s)
        self._last_timeout = f"{what} not received within {limit:g} s"
        core.disarm(*_WAITS)
        core.cyclic.stop("CRM", "CTS", "CML")
        core.send_cem(cem_field, now, out)
        self.attempts += 1
        if self.attempts > s.rehandshake_attempts:
            detail = self._last_timeout + (
                f" ({s.rehandshake_attempts} re-handshakes)" if s.rehandshake_attempts else ""
            )
            core.fail(StageFailure(Reason.TIMEOUT, detail), out)
            return True
        out.actions.append(Note(f"{self._last_timeout}: CEM, then re-handshake {self.attempts}"))
        self._retry_pending = True
        return True

    def after_cem(self, now: float, out: Output) -> None:
        if self._retry_pending and self.core.stage is Stage.PARAMETER_NEGOTIATION and self.core.end is None:
            self._retry_pending = False
            self.start(now, out)

    # ------------------------------------------------------------------ pre-charge checks
    def check_pack_voltage(self, now: float, out: Output) -> None:
        """The voltage behind K1/K2 must agree with BCP's present pack voltage (±5 %) and fit the charger."""
        core, s = self.core, self.core.settings
        bcp = self.bcp
        inlet_v = core.meas.inlet_voltage_v
        if bcp is None or bcp.pack_voltage_v is None:
            core.fail(StageFailure(Reason.PRECHARGE_FAILED, "BCP gave no valid present pack voltage"), out)
            return
        tolerance_v = bcp.pack_voltage_v * s.precharge_plausibility_pct / 100.0
        if abs(inlet_v - bcp.pack_voltage_v) > tolerance_v:
            if "pack_voltage" in core.timers:
                return  # the vehicle's contactors may still be closing: look again on the next measurement
            core.fail(
                StageFailure(
                    Reason.PRECHARGE_FAILED,
                    f"pack voltage at the inlet {inlet_v:.0f} V differs from BCP's {bcp.pack_voltage_v:.0f} V by more "
                    f"than {s.precharge_plausibility_pct:g} %",
                ),
                out,
            )
            return
        if not core.offer.min_voltage_v <= inlet_v <= core.offer.max_voltage_v:
            detail = (
                f"pack voltage {inlet_v:.0f} V outside the charger's range "
                f"{core.offer.min_voltage_v:.0f}–{core.offer.max_voltage_v:.0f} V"
            )
            core.fail(StageFailure(Reason.VEHICLE_INCOMPATIBLE, detail), out)
            return
        core.disarm("pack_voltage")
        core.phase = Phase.PRECHARGING
        out.actions.append(
            Do(Op.PRECHARGE, voltage_v=inlet_v, tolerance_v=s.precharge_match_v, current_a=s.precharge_current_a)
        )
