"""The GB/T 27930 charger side as a sans-I/O state machine (gbt27930.md, "Charger sequence").

Rules — everything that decides what the charger does on the GB/T link lives here:
* The core is fed: BMS frames (`feed`), the CC1 voltage (`on_cc1`), the charger's measurements (`observe`), the
  completion of power-path operations it asked for (`done`), the session's stage (`begin`) and the time (`poll`,
  at `next_deadline()` at the latest). Each returns an `Output`: frames to send now and `Action`s. It never
  sleeps, sends or touches hardware, so a test or a trace replay drives it with plain calls and made-up times.
* Only frames from the BMS (0xF4) to the charger (0x56) count; multi-packet messages arrive through the J1939
  transport inside the core, so a transfer never holds anything up.
* It advances only inside the stage the session has begun; finishing a stage's steps yields `StageDone(stage)`.
  STOPPING and UNLOCK run from any state (also after a failure, with a dead link).
* Cyclic frames run on an absolute schedule (`CyclicSchedule`); their payloads are replaced in place.
* Receive timeouts in recognition/configuration send CEM, then restart from CRM 0x00 at most
  `rehandshake_attempts` times; later ones send CEM and end the session (the session cannot go back to
  recognition once power has flowed).

Sequence (steps of gbt27930.md):
  CONNECTION_DETECTION   CC1 = 4 V for `cc1_debounce_s`                                                  (1)
  BMS_WAKE_UP            lock; 12 V aux; CHM until BHM (no BHM → 24 V retry if enabled, else 2011 edition)  (2, 3)
  INSULATION_TEST        test at the BHM voltage clamped to the charger (legacy voltage for 2011)           (4)
  PARAMETER_NEGOTIATION  CRM 0x00 → BRM → CRM 0xAA → BCP → CTS/CML → BRO 0x00 → BRO 0xAA               (5, 6)
  PRE_CHARGE             inlet ≈ BCP pack voltage (±5 %), CRO 0x00, output to the pack voltage ±10 V          (7)
  CONTACTOR_CLOSURE      K1/K2, CRO 0xAA until BCL and BCS                                                   (7)
  ENERGY_TRANSFER        BCL → request, BCS/BSM → status and pause, CCS every 50 ms; BST → CST, end           (8)
  STOPPING               CST, ramp down and open K1/K2, BST ≤ 5 s, BSD ≤ 10 s, CSD                             (9)
  UNLOCK                 discharge < 60 V, aux off, unlock                                                 (9, 10)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from evse.can.channel import CanFrame
from evse.protocols.gbt import messages as m
from evse.protocols.gbt.actions import (
    Do,
    End,
    Measurements,
    Note,
    Op,
    Output,
    SetLine,
    StageDone,
)
from evse.protocols.gbt.charging import ChargingLoop
from evse.protocols.gbt.codec import decode, encode
from evse.protocols.gbt.cyclic import CyclicSchedule
from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS, PGN_TP_CM, PGN_TP_DT, frame_id, parse_id
from evse.protocols.gbt.negotiation import Negotiation
from evse.protocols.gbt.sequence import (
    CEM_PERIOD_S,
    CHM_PERIOD_S,
    CRO_PERIOD_S,
    CSD_PERIOD_S,
    CST_PERIOD_S,
    LINE_AUX_12V,
    LINE_AUX_24V,
    SAFE_CHECK_PERIOD_S,
    SAFE_VOLTAGE_V,
    Phase,
)
from evse.protocols.gbt.settings import GbtSettings
from evse.protocols.gbt.stopping import cst_for
from evse.protocols.gbt.transport import TpTimers, Transport
from evse.protocols.gbt.wire import GbtDecodeError, GbtMessage
from evse.session.context import ChargerOffer
from evse.session.errors import SessionEnd, StageFailure
from evse.session.stages import Reason, Stage

#: the offer before `set_charger_offer` (a core fed by hand in a test); a 750 V / 250 A GB/T charger
PLACEHOLDER_OFFER = ChargerOffer(
    max_voltage_v=750, min_voltage_v=200, max_current_a=250, min_current_a=0, max_power_w=0
)


class GbtCore:
    """The charger side of one GB/T session. Create one per session."""

    def __init__(self, settings: GbtSettings | None = None) -> None:
        self.settings = s = settings or GbtSettings()
        self.phase = Phase.IDLE
        self.stage: Stage | None = None
        self.transport = Transport(
            CHARGER_ADDRESS,
            BMS_ADDRESS,
            TpTimers(s.tp_tr_s, s.tp_th_s, s.tp_t1_s, s.tp_t2_s, s.tp_t3_s, s.tp_t4_s, s.tp_max_packets_per_cts),
        )
        self.cyclic = CyclicSchedule()
        self._meas = Measurements()
        #: where the charger's measurements come from (the adapter): read at first use after `measurements_stale`
        #: — most frames (BCL, TP packets) need none, and each reading of a sensor costs
        self.measure: Callable[[], Measurements] | None = None
        self._meas_stale = False
        #: what the charger offers this vehicle; the adapter sets it from the session before each use
        self.offer = PLACEHOLDER_OFFER
        self.timers: dict[str, float] = {}
        self.end: SessionEnd | None = None
        self.nego = Negotiation(self)
        # vehicle view
        self.cc1_v = 0.0
        self.cc1_ok_since_s: float | None = None
        self.bhm: m.Bhm | None = None
        self.legacy = False  # a 2011-edition vehicle: no BHM
        self.aux_line = LINE_AUX_12V
        self.ignored_frames = 0
        self.bad_frames = 0
        self._untrusted_noted: set[tuple[int, tuple[str, ...]]] = set()
        # stop phase
        self.cst_started = False
        self.bst: m.Bst | None = None
        self.bsd: m.Bsd | None = None
        self.contactors_closed = False
        self.stop_open_done = False
        self.bsd_wait_over = False
        self.csd_done = False
        self.charging = ChargingLoop(self)
        #: local calendar time of a loop time, for CTS (None: CTS says "no time", all 0xFF)
        self.calendar: Callable[[float], dt.datetime] | None = None

    # ------------------------------------------------------------------ small helpers
    def frame(self, message: GbtMessage) -> CanFrame:
        return CanFrame(frame_id(message.PGN, CHARGER_ADDRESS, BMS_ADDRESS), encode(message), True)

    def start_cyclic(self, message: GbtMessage, period_s: float, now: float, out: Output) -> None:
        f = self.frame(message)
        out.frames.extend(self.cyclic.start(message.PGN.name, f.arbitration_id, f.data, period_s, now))

    def arm(self, name: str, at: float) -> None:
        self.timers[name] = at

    def disarm(self, *names: str) -> None:
        for name in names:
            self.timers.pop(name, None)

    def fail(self, error: SessionEnd, out: Output) -> None:
        """End the session with `error` (once); the session then begins STOPPING."""
        if self.end is None:
            self.end = error
        self.phase = Phase.ENDED
        self.timers = {k: v for k, v in self.timers.items() if k in ("cem_stop",)}
        self.cyclic.stop("CHM", "CRM", "CTS", "CML", "CRO")
        out.actions.append(End(error))

    def done_stage(self, stage: Stage, out: Output) -> None:
        self.phase = Phase.HOLD
        out.actions.append(StageDone(stage))

    def send_cem(self, field: str, now: float, out: Output) -> None:
        """Report a receive timeout with CEM every 250 ms for `cem_repeat_s`."""
        cem = m.Cem(**{field: m.STATUS_SET})  # type: ignore[arg-type]
        if self.cyclic.active("CEM"):
            self.cyclic.update("CEM", encode(cem))
        else:
            self.start_cyclic(cem, CEM_PERIOD_S, now, out)
        self.arm("cem_stop", now + self.settings.cem_repeat_s)

    # ------------------------------------------------------------------ inputs
    def set_charger_offer(self, offer: ChargerOffer) -> None:
        self.offer = offer

    def observe(self, meas: Measurements) -> None:
        self._meas = meas
        self._meas_stale = False

    def measurements_stale(self) -> None:
        """A new input arrives: the next use of `meas` reads `measure()` afresh (once per input)."""
        self._meas_stale = True

    @property
    def meas(self) -> Measurements:
        if self._meas_stale and self.measure is not None:
            self._meas = self.measure()
            self._meas_stale = False
        return self._meas

    def next_deadline(self) -> float | None:
        earliest = self.cyclic.next_due()
        tp = self.transport.next_deadline()
        if tp is not None and (earliest is None or tp < earliest):
            earliest = tp
        if self.timers:
            at = min(self.timers.values())
            if earliest is None or at < earliest:
                earliest = at
        return earliest

    def begin(self, stage: Stage, now: float, stop_reason: Reason | None = None) -> Output:
        """The session starts `stage`'s steps."""
        self.stage = stage
        out = Output()
        if stage is Stage.STOPPING:
            self._begin_stopping(now, stop_reason, out)
            return out
        if stage is Stage.UNLOCK:
            self.cyclic.stop_all()
            self.timers.clear()
            self.phase = Phase.DISCHARGING
            out.actions.append(Do(Op.DISCHARGE))
            return out
        if self.end is not None:
            out.actions.append(End(self.end))
            return out
        match stage:
            case Stage.CONNECTION_DETECTION:
                self.phase = Phase.WAIT_CC1
                self._check_cc1(now, out)
            case Stage.AUTHORIZATION:
                self.done_stage(stage, out)
            case Stage.BMS_WAKE_UP:
                self.phase = Phase.LOCKING
                out.actions.append(Do(Op.LOCK))
            case Stage.INSULATION_TEST:
                self._begin_insulation(out)
            case Stage.PARAMETER_NEGOTIATION:
                self.cyclic.stop("CHM")
                self.phase = Phase.NEGOTIATING
                self.nego.start(now, out)
            case Stage.PRE_CHARGE:
                self.phase = Phase.WAIT_PACK_VOLTAGE
                self.start_cyclic(m.Cro(ready=m.NOT_READY), CRO_PERIOD_S, now, out)
                self.arm("pack_voltage", now + self.settings.pack_voltage_wait_s)
                self.nego.check_pack_voltage(now, out)
            case Stage.CONTACTOR_CLOSURE:
                self.phase = Phase.CLOSING
                out.actions.append(Do(Op.CLOSE_CONTACTORS))
            case Stage.ENERGY_TRANSFER:
                self.charging.begin(now, out)
            case _:
                self.done_stage(stage, out)
        return out

    def on_cc1(self, voltage_v: float, now: float) -> Output:
        out = Output()
        self.cc1_v = voltage_v
        if self._cc1_latched():
            if self.cc1_ok_since_s is None:
                self.cc1_ok_since_s = now
        else:
            self.cc1_ok_since_s = None
            if self.phase not in (Phase.IDLE, Phase.WAIT_CC1, Phase.ENDED, Phase.DONE) and self.stage not in (
                Stage.STOPPING,
                Stage.UNLOCK,
            ):
                self.fail(
                    StageFailure(
                        Reason.UNPLUGGED,
                        f"CC1 left {self.settings.cc1_connected_v:g} V ({voltage_v:.1f} V): gun released",
                    ),
                    out,
                )
                return out
        if self.phase is Phase.WAIT_CC1:
            self._check_cc1(now, out)
        return out

    def feed(self, frame: CanFrame, now: float) -> Output:
        out = Output()
        if not frame.is_extended_id:
            self.ignored_frames += 1
            return out
        ident = parse_id(frame.arbitration_id)
        if ident.source != BMS_ADDRESS or ident.destination != CHARGER_ADDRESS:
            # other ECUs talk to 0xF4 and 0x56 too: only BMS → charger traffic is the BMS
            if not (ident.pgn in (PGN_TP_CM, PGN_TP_DT) and self.transport.is_transport_frame(frame)):
                self.ignored_frames += 1
                return out
        if ident.pgn in (PGN_TP_CM, PGN_TP_DT):
            tp = self.transport.feed(frame, now)
            out.frames.extend(tp.frames)
            for abort in tp.aborts:
                out.actions.append(Note(f"TP {abort.direction} of PGN 0x{abort.pgn:04X} aborted: {abort.detail}"))
            for pgn, payload in tp.messages:
                self._on_message(pgn, payload, now, out)
            return out
        self._on_message(ident.pgn, frame.data, now, out)
        return out

    def poll(self, now: float) -> Output:
        out = Output()
        tp = self.transport.poll(now)
        out.frames.extend(tp.frames)
        for abort in tp.aborts:
            out.actions.append(Note(f"TP {abort.direction} of PGN 0x{abort.pgn:04X} aborted: {abort.detail}"))
        for name, at in sorted(self.timers.items(), key=lambda item: item[1]):
            if at <= now + 1e-9 and self.timers.get(name) == at:
                del self.timers[name]
                self._on_timer(name, now, out)
        if self.phase is Phase.WAIT_CC1:
            self._check_cc1(now, out)
        elif self.phase is Phase.WAIT_PACK_VOLTAGE:
            self.nego.check_pack_voltage(now, out)
        self.charging.refresh(now)
        if self.calendar is not None and self.cyclic.is_due("CTS", now):
            # the clock only matters in the frame that leaves now: no calendar conversion on every poll
            self.cyclic.update("CTS", encode(self.cts(now)))
        out.frames.extend(self.cyclic.due(now))
        return out

    def done(self, op: Op, now: float, value: float | None = None, detail: str = "") -> Output:
        """A power-path operation the core asked for has completed (`value`: the matched pre-charge voltage)."""
        out = Output()
        match op:
            case Op.LOCK if self.phase is Phase.LOCKING:
                self.phase = Phase.WAIT_BHM
                out.actions.append(SetLine(self.aux_line, True))
                major, minor = self._chm_version()
                self.start_cyclic(m.Chm(version_major=major, version_minor=minor), CHM_PERIOD_S, now, out)
                self.arm("bhm", now + self.settings.bhm_timeout_s)
            case Op.INSULATION_TEST if self.phase is Phase.INSULATION:
                if detail:
                    out.actions.append(Note(f"insulation {detail}"))
                self.done_stage(Stage.INSULATION_TEST, out)
            case Op.PRECHARGE if self.phase is Phase.PRECHARGING:
                self.done_stage(Stage.PRE_CHARGE, out)
            case Op.CLOSE_CONTACTORS if self.phase is Phase.CLOSING:
                self.contactors_closed = True
                self.charging.contactors_closed(now, out)
            case Op.OPEN_CONTACTORS if self.phase is Phase.STOPPING:
                self.contactors_closed = False
                self.stop_open_done = True
                self._check_stopped(now, out)
            case Op.DISCHARGE if self.phase is Phase.DISCHARGING:
                self.phase = Phase.WAIT_SAFE
                self.arm("unlock_wait", now + self.settings.unlock_wait_s)
                self._check_safe(now, out)
            case Op.UNLOCK if self.phase is Phase.UNLOCKING:
                self.phase = Phase.DONE
                out.actions.append(StageDone(Stage.UNLOCK))
        return out

    def _check_safe(self, now: float, out: Output, give_up: bool = False) -> None:
        """Aux supply off and unlock once output and inlet are below 60 V (or, after `unlock_wait_s`, try the unlock
        anyway: the stage API refuses it with a reason an operator can act on)."""
        if self.phase is not Phase.WAIT_SAFE:
            return
        safe = max(self.meas.inlet_voltage_v, self.meas.output_voltage_v) < SAFE_VOLTAGE_V
        if not safe and not give_up:
            self.arm("safe_check", now + SAFE_CHECK_PERIOD_S)
            return
        self.disarm("safe_check", "unlock_wait")
        if safe:
            out.actions.append(SetLine(LINE_AUX_12V, False))
            out.actions.append(SetLine(LINE_AUX_24V, False))
        self.phase = Phase.UNLOCKING
        out.actions.append(Do(Op.UNLOCK))

    # ------------------------------------------------------------------ connection, wake-up, insulation
    def _cc1_latched(self) -> bool:
        return abs(self.cc1_v - self.settings.cc1_connected_v) <= self.settings.cc1_tolerance_v

    def _check_cc1(self, now: float, out: Output) -> None:
        since = self.cc1_ok_since_s
        if since is None:
            self.disarm("cc1")
        elif now - since >= self.settings.cc1_debounce_s - 1e-9:
            self.disarm("cc1")
            self.done_stage(Stage.CONNECTION_DETECTION, out)
        else:
            self.arm("cc1", since + self.settings.cc1_debounce_s)

    def cts(self, now: float) -> m.Cts:
        """CTS (time sync): the charger's local time, to the second."""
        when = None if self.calendar is None else self.calendar(now).replace(microsecond=0)
        return m.Cts(time=when)

    def _chm_version(self) -> tuple[int, int]:
        major, _, minor = self.settings.chm_version.partition(".")
        return int(major), int(minor)

    def _on_bhm(self, bhm: m.Bhm, now: float, out: Output) -> None:
        if self.phase is not Phase.WAIT_BHM:
            self.bhm = bhm if self.bhm is None else self.bhm
            return
        if bhm.max_charge_voltage_v is None:
            out.actions.append(Note("BHM voltage out of range: ignored"))
            return
        self.bhm = bhm
        self.disarm("bhm")
        self.done_stage(Stage.BMS_WAKE_UP, out)

    def _bhm_timeout(self, now: float, out: Output) -> None:
        if self.settings.aux_24v_retry and self.aux_line == LINE_AUX_12V:
            out.actions.append(Note("no BHM on 12 V auxiliary supply: retrying on 24 V"))
            out.actions.append(SetLine(LINE_AUX_12V, False))
            self.aux_line = LINE_AUX_24V
            out.actions.append(SetLine(LINE_AUX_24V, True))
            self.arm("bhm", now + self.settings.bhm_timeout_s)
            return
        # GB/T 27930-2011 has no CHM/BHM: carry on with the configured test voltage
        self.legacy = True
        out.actions.append(Note(f"no BHM within {self.settings.bhm_timeout_s:g} s: treating as a 2011-edition BMS"))
        self.done_stage(Stage.BMS_WAKE_UP, out)

    def test_voltage_v(self) -> float:
        """BHM voltage clamped to the charger's maximum (gbt27930.md step 4), the legacy voltage without BHM."""
        if self.bhm is not None and self.bhm.max_charge_voltage_v is not None:
            wanted = self.bhm.max_charge_voltage_v
            if wanted < self.offer.min_voltage_v:
                raise StageFailure(
                    Reason.VEHICLE_INCOMPATIBLE,
                    f"BHM maximum charge voltage {wanted:.0f} V is below the charger's minimum "
                    f"{self.offer.min_voltage_v:.0f} V",
                )
            return min(wanted, self.offer.max_voltage_v)
        return min(self.settings.legacy_test_voltage_v, self.offer.max_voltage_v)

    def _begin_insulation(self, out: Output) -> None:
        try:
            voltage_v = self.test_voltage_v()
        except StageFailure as exc:
            self.fail(exc, out)
            return
        self.phase = Phase.INSULATION
        out.actions.append(Do(Op.INSULATION_TEST, voltage_v=voltage_v))

    # ------------------------------------------------------------------ messages
    def _on_message(self, pgn: int, payload: bytes, now: float, out: Output) -> None:
        try:
            message = decode(pgn, payload)
        except GbtDecodeError as exc:
            self.bad_frames += 1
            out.actions.append(Note(f"undecodable frame: {exc}"))
            return
        if message.invalid and (message.PGN, message.invalid) not in self._untrusted_noted:
            # once per message and set of fields: a BMS that always sends "not available" must not flood the log
            self._untrusted_noted.add((message.PGN, message.invalid))
            out.actions.append(Note(f"{message.PGN.name}: out of range, not trusted: {', '.join(message.invalid)}"))
        match message:
            case m.Bhm():
                self._on_bhm(message, now, out)
            case m.Bst():
                self._on_bst(message, now, out)
            case m.Bsd():
                self._on_bsd(message, now, out)
            case m.Bem():
                out.actions.append(Note(f"BEM from the BMS: {', '.join(message.active()) or 'no timeout set'}"))
            case m.Brm() | m.Bcp() | m.Bro():
                self.nego.on_message(message, now, out)
            case _:
                self.charging.on_message(message, now, out)

    # ------------------------------------------------------------------ timers
    def _on_timer(self, name: str, now: float, out: Output) -> None:
        match name:
            case "cc1":
                self._check_cc1(now, out)
            case "bhm":
                self._bhm_timeout(now, out)
            case "cem_stop":
                self.cyclic.stop("CEM")
                self.nego.after_cem(now, out)
            case "bst":
                out.actions.append(Note(f"no BST within {self.settings.bst_timeout_s:g} s of CST"))
                self.send_cem("bst_timeout", now, out)
                self.arm("bsd", now + self.settings.bsd_timeout_s)
            case "bsd":
                out.actions.append(Note(f"no BSD within {self.settings.bsd_timeout_s:g} s"))
                self.send_cem("bsd_timeout", now, out)
                self.bsd_wait_over = True
                self._check_stopped(now, out)
            case "safe_check":
                self._check_safe(now, out)
            case "unlock_wait":
                self._check_safe(now, out, give_up=True)
            case "csd_stop":
                self.cyclic.stop("CSD")
                self.csd_done = True
                self._check_stopped(now, out)
            case _:
                if not self.nego.on_timer(name, now, out):
                    self.charging.on_timer(name, now, out)

    # ------------------------------------------------------------------ the end
    def _on_bst(self, bst: m.Bst, now: float, out: Output) -> None:
        if self.bst is None:
            self.bst = bst
        if not self.cst_started:
            self._start_cst(m.Cst(bms_stopped=m.STATUS_SET), now, out)
        if self.stage is Stage.UNLOCK or self.phase is Phase.ENDED:
            return  # the session is already ending: a (late, repeated) BST changes nothing
        if self.stage is Stage.STOPPING:
            self.disarm("bst")
            if "bsd" not in self.timers and self.bsd is None:
                self.arm("bsd", now + self.settings.bsd_timeout_s)
            return
        self.disarm("bsd")
        self.fail(self.charging.vehicle_stop(bst), out)

    def _start_cst(self, cst: m.Cst, now: float, out: Output) -> None:
        self.cst_started = True
        self.cyclic.stop("CCS", "CRO", "CML", "CTS", "CRM", "CHM")
        self.start_cyclic(cst, CST_PERIOD_S, now, out)

    def _on_bsd(self, bsd: m.Bsd, now: float, out: Output) -> None:
        if self.bsd is not None:
            return
        self.bsd = bsd
        self.disarm("bst", "bsd")
        self.charging.record_bsd(bsd, out)
        if self.stage is Stage.STOPPING:
            self._send_csd(now, out)

    def _send_csd(self, now: float, out: Output) -> None:
        self.cyclic.stop("CST")
        csd = m.Csd(
            charging_time_min=round(self.charging.minutes(now)),
            energy_kwh=round(self.charging.energy_kwh, 1),
            charger_number=self.settings.charger_number,
        )
        self.start_cyclic(csd, CSD_PERIOD_S, now, out)
        self.arm("csd_stop", now + self.settings.csd_repeat_s)

    def _begin_stopping(self, now: float, stop_reason: Reason | None, out: Output) -> None:
        self.phase = Phase.STOPPING
        keep = {k: v for k, v in self.timers.items() if k == "cem_stop"}
        self.timers = keep
        self.cyclic.stop("CHM", "CRM", "CTS", "CML", "CRO", "CCS")
        if not self.cst_started:
            self._start_cst(cst_for(self.end, stop_reason), now, out)
        self.bsd_wait_over = not self.nego.link_established or self.bsd is not None
        self.csd_done = not self.nego.link_established
        if self.bsd is not None:
            self._send_csd(now, out)
        elif self.nego.link_established:
            if self.bst is None:
                self.arm("bst", now + self.settings.bst_timeout_s)
            else:
                self.arm("bsd", now + self.settings.bsd_timeout_s)
        if self.contactors_closed:
            out.actions.append(Do(Op.OPEN_CONTACTORS))
        else:
            self.stop_open_done = True
        self._check_stopped(now, out)

    def _check_stopped(self, now: float, out: Output) -> None:
        if self.phase is not Phase.STOPPING or not self.stop_open_done:
            return
        if (self.bsd is not None and self.csd_done) or (self.bsd is None and self.bsd_wait_over):
            self.phase = Phase.STOPPED
            out.actions.append(StageDone(Stage.STOPPING))
