"""Contactor closure and the charging loop of the GB/T charger core (gbt27930.md steps 7–8).

Part of `GbtCore`; split out so each file reads in one sitting. Theory: after K1/K2 close, CRO 0xAA every 250 ms
until both BCL and BCS have arrived (≤ `cro_until_demand_s`). Then CCS every 50 ms carrying the measured output,
the charging minutes and the permit; each BCL becomes a `Request` (clamped to the CML offer), BCS/BSM/BMV/BMT
update the vehicle status, the BSM permit pauses and resumes, a BSM fault code or a silent BCL (1 s), BCS (5 s) or
BSM (5 s) ends the session, and a BST ends it with the BMS's own reasons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from evse.protocols.gbt import messages as m
from evse.protocols.gbt.actions import Note, Output, Pause, Request, VehicleUpdate
from evse.protocols.gbt.codec import encode
from evse.protocols.gbt.sequence import CCS_PERIOD_S, CRO_PERIOD_S, Phase
from evse.protocols.gbt.wire import GbtMessage
from evse.session.errors import SessionEnd, StageFailure, VehicleStop
from evse.session.stages import Reason, Stage

if TYPE_CHECKING:
    from evse.protocols.gbt.core import GbtCore

_SECONDS_PER_MINUTE = 60.0
_WH_PER_KWH = 1000.0
_SECONDS_PER_HOUR = 3600.0


class ChargingLoop:
    def __init__(self, core: GbtCore) -> None:
        self.core = core
        self.bcl: m.Bcl | None = None
        self.bcs: m.Bcs | None = None
        self.bsm: m.Bsm | None = None
        self.permitted = True
        self.started_s: float | None = None
        self.energy_kwh = 0.0
        self._integrated_s: float | None = None
        self._ccs_key: tuple[float, float, int, int] | None = None

    def minutes(self, now: float) -> float:
        return 0.0 if self.started_s is None else (now - self.started_s) / _SECONDS_PER_MINUTE

    # ------------------------------------------------------------------ closure
    def contactors_closed(self, now: float, out: Output) -> None:
        core = self.core
        cro = m.Cro(ready=m.READY)
        if core.cyclic.active("CRO"):
            core.cyclic.update("CRO", encode(cro))
            out.frames.append(core.frame(cro))  # tell the BMS at once, then every 250 ms
        else:
            core.start_cyclic(cro, CRO_PERIOD_S, now, out)
        core.phase = Phase.WAIT_DEMAND
        self.bcl = self.bcs = None  # BCL and BCS count from CRO 0xAA on
        core.arm("demand", now + core.settings.cro_until_demand_s)

    def _check_demand(self, out: Output) -> None:
        if self.core.phase is Phase.WAIT_DEMAND and self.bcl is not None and self.bcs is not None:
            self.core.disarm("demand")
            self.core.done_stage(Stage.CONTACTOR_CLOSURE, out)

    # ------------------------------------------------------------------ charging
    def begin(self, now: float, out: Output) -> None:
        core, s = self.core, self.core.settings
        core.phase = Phase.CHARGING
        core.cyclic.stop("CRO")
        self.started_s = self._integrated_s = now
        self._ccs_key = None
        core.start_cyclic(self._ccs(now), CCS_PERIOD_S, now, out)
        core.arm("bcl", now + s.bcl_timeout_s)
        core.arm("bcs", now + s.bcs_timeout_s)
        core.arm("bsm", now + s.bsm_timeout_s)
        if self.bcl is not None:
            self._request(self.bcl, out)

    def refresh(self, now: float) -> None:
        """Integrate the delivered energy and keep the CCS payload current (measured output, minutes, permit)."""
        core = self.core
        if core.phase is not Phase.CHARGING:
            return
        meas = core.meas
        if self._integrated_s is not None:
            dt_s = max(0.0, now - self._integrated_s)
            power_w = meas.output_voltage_v * meas.output_current_a
            self.energy_kwh += power_w * dt_s / _SECONDS_PER_HOUR / _WH_PER_KWH
        self._integrated_s = now
        key = (
            round(meas.output_voltage_v, 1),
            round(meas.output_current_a, 1),
            int(self.minutes(now)),
            m.CCS_ALLOWED if self.permitted else m.CCS_PAUSED,
        )
        if key != self._ccs_key:
            self._ccs_key = key
            core.cyclic.update("CCS", encode(self._ccs(now)))

    def _ccs(self, now: float) -> m.Ccs:
        meas = self.core.meas
        return m.Ccs(
            output_voltage_v=max(0.0, meas.output_voltage_v),
            output_current_a=max(0.0, meas.output_current_a),
            charging_time_min=int(self.minutes(now)),
            permitted=m.CCS_ALLOWED if self.permitted else m.CCS_PAUSED,
        )

    def on_message(self, message: GbtMessage, now: float, out: Output) -> None:
        core, s = self.core, self.core.settings
        if core.phase not in (Phase.WAIT_DEMAND, Phase.CHARGING):
            return
        charging = core.phase is Phase.CHARGING
        match message:
            case m.Bcl():
                if message.voltage_demand_v is None or message.current_demand_a is None:
                    return  # not trusted (reported by the core); a BMS that only sends such BCLs times out
                self.bcl = message
                if charging:
                    core.arm("bcl", now + s.bcl_timeout_s)
                    self._request(message, out)
                else:
                    self._check_demand(out)
            case m.Bcs():
                self.bcs = message
                remaining = None if message.remaining_time_min is None else message.remaining_time_min * 60.0
                extra = {
                    "highest_cell_voltage_v": message.highest_cell_voltage_v,
                    "bcs_voltage_v": message.measured_voltage_v,
                }
                out.actions.append(VehicleUpdate(soc_pct=message.soc_pct, remaining_time_s=remaining, extra=extra))
                if charging:
                    core.arm("bcs", now + s.bcs_timeout_s)
                else:
                    self._check_demand(out)
            case m.Bsm():
                self.bsm = message
                if charging:
                    core.arm("bsm", now + s.bsm_timeout_s)
                self._on_bsm(message, now, out)
            case m.Bmv():
                cells = [v for v in message.cell_voltages_v if v is not None]
                if cells:
                    out.actions.append(VehicleUpdate(extra={"cell_min_v": min(cells), "cell_max_v": max(cells)}))
            case m.Bmt():
                temps = {f"probe_{i + 1}": t for i, t in enumerate(message.temperatures_c) if t is not None}
                out.actions.append(VehicleUpdate(temperatures_c=temps))
            case _:
                pass

    def _request(self, bcl: m.Bcl, out: Output) -> None:
        assert bcl.voltage_demand_v is not None and bcl.current_demand_a is not None
        offer = self.core.offer
        voltage_v = min(bcl.voltage_demand_v, offer.max_voltage_v)
        current_a = min(bcl.current_demand_a, offer.max_current_a)
        out.actions.append(Request(voltage_v, current_a))
        out.actions.append(
            VehicleUpdate(requested_voltage_v=bcl.voltage_demand_v, requested_current_a=bcl.current_demand_a)
        )

    def _on_bsm(self, bsm: m.Bsm, now: float, out: Output) -> None:
        core = self.core
        temps: dict[str, float] = {}
        if bsm.highest_temperature_c is not None:
            temps["battery_max"] = bsm.highest_temperature_c
        if bsm.lowest_temperature_c is not None:
            temps["battery_min"] = bsm.lowest_temperature_c
        if temps:
            out.actions.append(VehicleUpdate(temperatures_c=temps))
        faults = bsm.faults()
        if faults:
            detail = f"BSM reports {', '.join(faults)} abnormal"
            core.fail(
                StageFailure(Reason.VEHICLE_FAULT, detail, vehicle_reason=",".join(f"bsm:{f}" for f in faults)), out
            )
            return
        if bsm.charge_permit is None or core.phase is not Phase.CHARGING:
            return
        permitted = bsm.charge_permit == m.BSM_ALLOW
        if permitted != self.permitted:
            self.permitted = permitted
            out.actions.append(Pause(not permitted))
            self._ccs_key = None
            self.refresh(now)

    # ------------------------------------------------------------------ timeouts
    def on_timer(self, name: str, now: float, out: Output) -> None:
        core, s = self.core, self.core.settings
        match name:
            case "demand":
                missing = [n for n, v in (("BCL", self.bcl), ("BCS", self.bcs)) if v is None]
                core.send_cem("bcl_timeout" if "BCL" in missing else "bcs_timeout", now, out)
                detail = f"{' and '.join(missing)} not received within {s.cro_until_demand_s:g} s of CRO 0xAA"
                core.fail(StageFailure(Reason.TIMEOUT, detail), out)
            case "bcl":
                core.send_cem("bcl_timeout", now, out)
                core.fail(StageFailure(Reason.COMMUNICATION_LOST, f"BCL not received for {s.bcl_timeout_s:g} s"), out)
            case "bcs":
                core.send_cem("bcs_timeout", now, out)
                core.fail(StageFailure(Reason.COMMUNICATION_LOST, f"BCS not received for {s.bcs_timeout_s:g} s"), out)
            case "bsm":
                # CEM has no BSM bit (GB/T 27930-2015 CEM table): the stop frames say the rest
                core.fail(StageFailure(Reason.COMMUNICATION_LOST, f"BSM not received for {s.bsm_timeout_s:g} s"), out)
            case _:
                out.actions.append(Note(f"unknown timer {name}"))

    # ------------------------------------------------------------------ the end
    def vehicle_stop(self, bst: m.Bst) -> SessionEnd:
        """BST → the session's end: target reached = completed, a fault or error = vehicle fault."""
        active = bst.active()
        vehicle_reason = ",".join(active) or "unspecified"
        faults = [a for a in active if a not in m.BST_NORMAL_REASONS]
        if faults:
            return VehicleStop(f"BST: {', '.join(faults)}", vehicle_reason, reason=Reason.VEHICLE_FAULT)
        targets = [a for a in active if a != "charger_stopped"]
        if targets:
            return VehicleStop(f"BST: {', '.join(targets)}", vehicle_reason, reason=Reason.COMPLETED)
        return VehicleStop("BST", vehicle_reason)

    def record_bsd(self, bsd: m.Bsd, out: Output) -> None:
        extra = {
            "bsd_min_cell_voltage_v": bsd.min_cell_voltage_v,
            "bsd_max_cell_voltage_v": bsd.max_cell_voltage_v,
            "bsd_min_temperature_c": bsd.min_temperature_c,
            "bsd_max_temperature_c": bsd.max_temperature_c,
        }
        out.actions.append(VehicleUpdate(soc_pct=bsd.soc_pct, extra=extra))
