"""The BMS side of GB/T 27930 as a sans-I/O object, driven by the battery model and the vehicle plant.

Behaviour (gbt27930.md read from the vehicle's side):
* Awake while the charger's auxiliary supply is on (`aux_12v`, or `aux_24v` for a vehicle that needs 24 V);
  asleep it is silent and forgets the session.
* 2015 edition: CHM → BHM (its maximum charge voltage) every 250 ms. 2011 edition: no BHM.
* CRM 0x00 → BRM via TP (41 bytes for 2011, 49 for 2015) every 250 ms; CRM 0xAA → BCP via TP every 500 ms;
  CML → BRO 0x00, close its contactors after `contactor_delay_s`, then BRO 0xAA every 250 ms.
* CRO 0xAA → BCL (50 ms), BCS via TP (250 ms), BSM (250 ms): it asks for what the battery allows now (taper,
  temperature), at most the CML current, in constant-current mode at the pack's maximum voltage.
* At `target_soc_pct` → BST (SOC target) every 10 ms; on CST (or after its own BST) → with the current below 5 A
  it opens its contactors; BSD every 250 ms until CSD.
* The TP transfers use one packet per CTS (`tp_mode = "one_per_cts"`: RTS max 1) or all at once
  (`"all_at_once"`: every packet on the first CTS, as some BMSs do), packets `tp_packet_interval_s` apart.

Faults (`inject(name, **params)`): `no_bhm`, `brm_truncated`, `tp_abort` (the next transfer is aborted after its
first packet), `bcl_silence`, `bsm_permit_toggle` (period_s; 0 stops toggling), `bsm_permit` (allowed), `bst`
(reason = a BST code name), `insulation_fault` (BSM insulation abnormal), `contactor_never_closes`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evse.can.channel import CanFrame
from evse.protocols.gbt import messages as m
from evse.protocols.gbt.codec import decode, encode
from evse.protocols.gbt.cyclic import CyclicSchedule
from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS, PGN_TP_CM, PGN_TP_DT, Pgn, frame_id, parse_id
from evse.protocols.gbt.transport import TpOutput, Transport
from evse.protocols.gbt.wire import GbtDecodeError, GbtMessage
from evse.sim.interfaces import VehiclePlant

# periods of the BMS's messages (GB/T 27930-2015 message table)
BHM_PERIOD_S = 0.25
BRM_PERIOD_S = 0.25
BCP_PERIOD_S = 0.5
BRO_PERIOD_S = 0.25
BCL_PERIOD_S = 0.05
BCS_PERIOD_S = 0.25
BSM_PERIOD_S = 0.25
BST_PERIOD_S = 0.01
BSD_PERIOD_S = 0.25
#: the vehicle opens its contactors once the current is this low (gbt27930.md step 9)
STOP_CURRENT_A = 5.0
#: while stopping, how often the vehicle looks whether the current has fallen far enough to open its contactors
OPEN_CHECK_PERIOD_S = 0.05
#: the remaining time of BCS is recomputed when the SOC has moved this much
REMAINING_TIME_SOC_STEP_PCT = 0.1
#: a truncated BRM (fault): too short to be one
TRUNCATED_BRM_BYTES = 30
_TP_PERIODS = {Pgn.BRM: BRM_PERIOD_S, Pgn.BCP: BCP_PERIOD_S, Pgn.BCS: BCS_PERIOD_S}
FAULTS = (
    "no_bhm",
    "brm_truncated",
    "tp_abort",
    "bcl_silence",
    "bsm_permit_toggle",
    "bsm_permit",
    "bst",
    "insulation_fault",
    "contactor_never_closes",
)


@dataclass(slots=True)
class BmsOutput:
    frames: list[CanFrame] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class BmsProfile:
    """The `[gbt]` table of a vehicle profile."""

    edition: str = "2015"
    vin: str = "LSIM0000000000001"
    bms_version: str = "1.1"
    battery_type: int = 3
    max_cell_voltage_v: float = 3.65
    max_temperature_c: float = 55.0
    bhm_max_voltage_v: float | None = None
    target_soc_pct: float = 80.0
    tp_mode: str = "one_per_cts"
    tp_packet_interval_s: float = 0.01
    aux_voltage: int = 12
    contactor_delay_s: float = 0.3
    manufacturer: str = "SIM"

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> BmsProfile:
        known = set(cls.__dataclass_fields__)
        unknown = set(table) - known
        if unknown:
            raise ValueError(f"unknown key(s) in the [gbt] table: {', '.join(sorted(unknown))}; known: {sorted(known)}")
        return cls(**table)


class GbtBms:
    """One simulated GB/T BMS. `plant` gives the battery, the contactors, the inlet and the charger's lines."""

    def __init__(self, plant: VehiclePlant, profile: BmsProfile | None = None) -> None:
        self.plant = plant
        self.profile = profile or BmsProfile()
        self.transport = Transport(BMS_ADDRESS, CHARGER_ADDRESS)
        self.cyclic = CyclicSchedule()
        self.faults: set[str] = set()
        self.permit_toggle_s = 0.0
        self.permit_allowed = True
        self.bst_reason: str | None = None
        self._tp_abort_pending = False
        self._remaining_key: int | None = None
        self._remaining_min = 0
        self._reset()

    def _reset(self) -> None:
        self.awake = False
        self.stage = "asleep"
        self.cml: m.Cml | None = None
        self.recognised = False
        self.stop_sent = False
        self.cst_seen = False
        self.csd_seen = False
        self._tp_queue: list[tuple[Pgn, bytes]] = []
        self._repeat: dict[Pgn, float] = {}  # multi-packet messages resent at their period: next due time
        self._contactors_at: float | None = None
        self._permit_flip_at: float | None = None
        self._open_check_at: float | None = None
        self.cyclic.stop_all()
        self.transport = Transport(BMS_ADDRESS, CHARGER_ADDRESS)

    # ------------------------------------------------------------------ faults
    def inject(self, name: str, **params: Any) -> bool:
        if name not in FAULTS:
            return False
        if name == "bsm_permit_toggle":
            self.permit_toggle_s = float(params.get("period_s", 2.0))
            self._permit_flip_at = None
        elif name == "bsm_permit":
            self.permit_allowed = bool(params.get("allowed", False))
        elif name == "bst":
            reason = str(params.get("reason", "soc_target_reached"))
            if reason not in m.Bst.NAMES and reason != "unspecified":
                raise ValueError(f"unknown BST reason {reason!r}; use one of {', '.join(m.Bst.NAMES)}")
            self.bst_reason = reason
        else:
            self.faults.add(name)
        return True

    # ------------------------------------------------------------------ sans-I/O interface
    def next_deadline(self) -> float | None:
        earliest = self.cyclic.next_due()
        candidates = [self.transport.next_deadline(), self._contactors_at, self._permit_flip_at, self._open_check_at]
        if self._repeat and not self.transport.busy_sending:
            candidates.extend(self._repeat.values())  # a repeat waits for the transfer in progress
        for at in candidates:
            if at is not None and (earliest is None or at < earliest):
                earliest = at
        return earliest

    def feed(self, frame: CanFrame, now: float) -> BmsOutput:
        out = BmsOutput()
        if not self.awake or not frame.is_extended_id:
            return out
        ident = parse_id(frame.arbitration_id)
        if ident.source != CHARGER_ADDRESS or ident.destination != BMS_ADDRESS:
            return out
        if ident.pgn in (PGN_TP_CM, PGN_TP_DT):
            self._tp(self.transport.feed(frame, now), now, out)
            return out
        try:
            message = decode(ident.pgn, frame.data)
        except GbtDecodeError:
            return out
        self._on_message(message, now, out)
        return out

    def poll(self, now: float) -> BmsOutput:
        out = BmsOutput()
        self._check_aux(now, out)
        if not self.awake:
            return out
        self._tp(self.transport.poll(now), now, out)
        if self._contactors_at is not None and now >= self._contactors_at:
            self._contactors_at = None
            self.plant.close_vehicle_contactors()
        if self.stage == "config" and self.plant.vehicle_contactors_closed():
            self._start(m.Bro(ready=m.READY), BRO_PERIOD_S, now, out)
        if self._open_check_at is not None and now >= self._open_check_at:
            self._maybe_open(now)
        if self._permit_flip_at is not None and now >= self._permit_flip_at:
            self.permit_allowed = not self.permit_allowed
            self._permit_flip_at = None
        self._charging_tick(now, out)
        for pgn, due in list(self._repeat.items()):
            if due <= now and not self.transport.busy_sending:
                self._send_tp(pgn, now, out)
        self._start_tp(now, out)
        out.frames.extend(self.cyclic.due(now))
        return out

    # ------------------------------------------------------------------ internals
    def _frame(self, message: GbtMessage) -> CanFrame:
        return CanFrame(frame_id(message.PGN, BMS_ADDRESS, CHARGER_ADDRESS), encode(message), True)

    def _start(self, message: GbtMessage, period_s: float, now: float, out: BmsOutput) -> None:
        f = self._frame(message)
        out.frames.extend(self.cyclic.start(message.PGN.name, f.arbitration_id, f.data, period_s, now))

    def _refresh_due(self, name: str, now: float) -> bool:
        return not self.cyclic.active(name) or self.cyclic.is_due(name, now)

    def _check_aux(self, now: float, out: BmsOutput) -> None:
        line = "aux_24v" if self.profile.aux_voltage == 24 else "aux_12v"
        powered = self.plant.charger_line(line)
        if powered and not self.awake:
            self.awake, self.stage = True, "handshake"
        elif not powered and self.awake:
            self._reset()

    def _on_message(self, message: GbtMessage, now: float, out: BmsOutput) -> None:
        p = self.profile
        match message:
            case m.Chm() if self.stage == "handshake" and p.edition != "2011" and "no_bhm" not in self.faults:
                voltage = p.bhm_max_voltage_v or self.plant.battery.max_voltage_v
                self._start(m.Bhm(max_charge_voltage_v=voltage), BHM_PERIOD_S, now, out)
            case m.Crm() if message.recognition == m.NOT_READY and self.stage in ("handshake", "recognition", "config"):
                if self.stage != "recognition":
                    self.cyclic.stop("BHM", "BRO")
                    self._repeat.pop(Pgn.BCP, None)
                    self.stage, self.recognised = "recognition", False
                    self._send_tp(Pgn.BRM, now, out)
            case m.Crm() if message.recognised and self.stage == "recognition":
                self.stage, self.recognised = "parameters", True
                self._repeat.pop(Pgn.BRM, None)
                self._send_tp(Pgn.BCP, now, out)
            case m.Cml() if self.stage == "parameters":
                self.cml = message
                self.stage = "config"
                self._repeat.pop(Pgn.BCP, None)
                self._start(m.Bro(ready=m.NOT_READY), BRO_PERIOD_S, now, out)
                if "contactor_never_closes" not in self.faults:
                    self._contactors_at = now + p.contactor_delay_s
            case m.Cro() if message.ready == m.READY and self.stage == "config":
                self.stage = "charging"
                self.cyclic.stop("BRO")
                self._charging_tick(now, out, first=True)
            case m.Ccs():
                pass
            case m.Cst():
                self.cst_seen = True
                if not self.stop_sent:
                    self._send_bst(now, out, charger_stopped=True)
                self._maybe_bsd(now, out)
            case m.Csd():
                self.csd_seen = True
                self.cyclic.stop("BSD")
                self.stage = "done"
            case _:
                pass

    def _charging_tick(self, now: float, out: BmsOutput, first: bool = False) -> None:
        if self.stage != "charging" or self.stop_sent:
            if self.stop_sent and self.plant.vehicle_contactors_closed():
                self._maybe_open(now)
            return
        battery = self.plant.battery
        if self.bst_reason is not None or battery.soc_pct >= self.profile.target_soc_pct:
            self._send_bst(now, out)
            return
        # a payload only matters in the frame that leaves: build it when it is new or due (not on every poll)
        if "bcl_silence" in self.faults:
            self.cyclic.stop("BCL")
        elif self._refresh_due("BCL", now):
            offer = self.cml.max_output_current_a if self.cml is not None else None
            current_a = battery.max_charge_current_a()
            if offer is not None:
                current_a = min(current_a, offer)
            bcl = m.Bcl(
                voltage_demand_v=round(battery.max_voltage_v, 1),
                current_demand_a=round(current_a, 1),
                mode=m.MODE_CONSTANT_CURRENT,
            )
            self._start(bcl, BCL_PERIOD_S, now, out)
        if self.permit_toggle_s and self._permit_flip_at is None:
            self._permit_flip_at = now + self.permit_toggle_s
        if self._refresh_due("BSM", now):
            bsm = m.Bsm(
                highest_temperature_c=round(battery.temperature_c),
                lowest_temperature_c=round(battery.temperature_c) - 1,
                insulation=m.STATUS_SET if "insulation_fault" in self.faults else 0,
                charge_permit=m.BSM_ALLOW if self.permit_allowed else m.BSM_FORBID,
            )
            self._start(bsm, BSM_PERIOD_S, now, out)
        if first:
            self._send_tp(Pgn.BCS, now, out)

    def _send_bst(self, now: float, out: BmsOutput, charger_stopped: bool = False) -> None:
        self.stop_sent = True
        self.cyclic.stop("BCL", "BSM", "BRO", "BHM")
        self._repeat.clear()
        reason = "charger_stopped" if charger_stopped and self.bst_reason is None else self.bst_reason
        if reason is None:
            reason = "soc_target_reached"
        bst = m.Bst() if reason == "unspecified" else m.Bst(**{reason: m.STATUS_SET})  # type: ignore[arg-type]
        self._start(bst, BST_PERIOD_S, now, out)
        self._maybe_open(now)

    def _maybe_open(self, now: float) -> None:
        self._open_check_at = None
        if not self.plant.vehicle_contactors_closed():
            return
        if self.plant.charge_current_a() <= STOP_CURRENT_A:
            self.plant.open_vehicle_contactors()
        else:
            self._open_check_at = now + OPEN_CHECK_PERIOD_S

    def _maybe_bsd(self, now: float, out: BmsOutput) -> None:
        if not self.cyclic.active("BSD") and not self.csd_seen:
            self.cyclic.stop("BST")
            battery = self.plant.battery
            cell_v = battery.max_cell_voltage_v()
            bsd = m.Bsd(
                soc_pct=round(battery.soc_pct),
                min_cell_voltage_v=round(cell_v - 0.02, 2),
                max_cell_voltage_v=round(cell_v, 2),
                min_temperature_c=round(battery.temperature_c) - 1,
                max_temperature_c=round(battery.temperature_c),
            )
            self._start(bsd, BSD_PERIOD_S, now, out)

    # ---- multi-packet messages
    def _payload(self, pgn: Pgn) -> bytes:
        p, battery, plant = self.profile, self.plant.battery, self.plant
        if pgn is Pgn.BRM:
            major, _, minor = p.bms_version.partition(".")
            software = None if p.edition == "2011" else "0118061507e2ffff"
            brm = m.Brm(
                version_major=int(major),
                version_minor=int(minor or 0),
                battery_type=p.battery_type,
                rated_capacity_ah=round(battery.capacity_kwh * 1000 / max(battery.max_voltage_v, 1), 1),
                rated_voltage_v=round(battery.max_voltage_v * 0.9, 1),
                manufacturer=p.manufacturer,
                pack_serial=1,
                production_year=2022,
                production_month=6,
                production_day=15,
                charge_count=42,
                ownership=1,
                vin=p.vin,
                software_version=software,
            )
            data = encode(brm)
            return data[:TRUNCATED_BRM_BYTES] if "brm_truncated" in self.faults else data
        if pgn is Pgn.BCP:
            return encode(
                m.Bcp(
                    max_cell_voltage_v=p.max_cell_voltage_v,
                    max_charge_current_a=round(battery.max_charge_current_a(), 1),
                    nominal_energy_kwh=round(battery.capacity_kwh, 1),
                    max_total_voltage_v=round(battery.max_voltage_v, 1),
                    max_temperature_c=p.max_temperature_c,
                    soc_pct=round(battery.soc_pct, 1),
                    pack_voltage_v=round(battery.terminal_voltage_v(0.0), 1),
                )
            )
        return encode(
            m.Bcs(
                measured_voltage_v=round(plant.inlet_voltage_v(), 1),
                measured_current_a=round(max(0.0, plant.charge_current_a()), 1),
                highest_cell_voltage_v=round(battery.max_cell_voltage_v(), 2),
                highest_cell_group=1,
                soc_pct=round(battery.soc_pct),
                remaining_time_min=self._remaining_time_min(),
            )
        )

    def _remaining_time_min(self) -> int:
        """BCS B8–B9: minutes to the target SOC at ~50 kW, at most 600. The battery integrates its OCV curve for
        this (tens of µs); it is recomputed when the SOC has moved by `REMAINING_TIME_SOC_STEP_PCT`, which moves
        the figure by well under a minute."""
        battery = self.plant.battery
        if not hasattr(battery, "energy_to_soc_kwh"):
            return 60
        key = round(battery.soc_pct / REMAINING_TIME_SOC_STEP_PCT)
        if self._remaining_key != key:
            energy_kwh = battery.energy_to_soc_kwh(self.profile.target_soc_pct)
            self._remaining_key, self._remaining_min = key, min(600, round(energy_kwh * 60 / 50))
        return self._remaining_min

    def _send_tp(self, pgn: Pgn, now: float, out: BmsOutput) -> None:
        """Queue `pgn` now and again every period (its repetition stops when the next stage begins)."""
        self._repeat[pgn] = now + _TP_PERIODS[pgn]
        if not any(q == pgn for q, _ in self._tp_queue):
            self._tp_queue.append((pgn, self._payload(pgn)))
        self._start_tp(now, out)

    def _start_tp(self, now: float, out: BmsOutput) -> None:
        if self.transport.busy_sending or not self._tp_queue:
            return
        pgn, payload = self._tp_queue.pop(0)
        if pgn is Pgn.BCS and (self.stage != "charging" or self.stop_sent):
            return
        if len(payload) <= 8:
            out.frames.append(CanFrame(frame_id(pgn, BMS_ADDRESS, CHARGER_ADDRESS), payload, True))
            return
        all_at_once = self.profile.tp_mode == "all_at_once"
        self._tp(
            self.transport.send(
                pgn,
                payload,
                now,
                max_packets_per_cts=0xFF if all_at_once else 1,
                ignore_cts_count=all_at_once,
                packet_interval_s=self.profile.tp_packet_interval_s,
            ),
            now,
            out,
        )
        self._tp_abort_pending = "tp_abort" in self.faults

    def _tp(self, tp: TpOutput, now: float, out: BmsOutput) -> None:
        out.frames.extend(tp.frames)
        if self._tp_abort_pending and any(f.arbitration_id >> 16 & 0xFF == 0xEB for f in tp.frames):
            self._tp_abort_pending = False
            self.faults.discard("tp_abort")
            out.frames.extend(self.transport.abort_send(now).frames)
        if tp.sent or tp.aborts:
            self._start_tp(now, out)
