"""The CCS protocol adapter: each stage of `CCS_PLAN` waits for its V2G phase and performs our side of it.

The vehicle drives a V2G session; the iso15118 SECC answers it through `SeccBridge`, which reports every phase
in the session's `V2gLink`. A stage step here waits (bounded) for the phase that belongs to it, then calls the
`StageContext` (the only way to the power path) and writes the decision the bridge answers with:

| stage | waits for | does |
|---|---|---|
| connection detection | CP B/C (no pilot role: nothing) | — |
| BMS wake-up | SessionSetupReq | 5 % PWM; legacy wake-up (state F, then 5 % again) if the EV stays silent |
| authorization | ContractAuthenticationReq / AuthorizationReq | EIM: the session's authorization is done → Accepted |
| parameter negotiation | ChargeParameterDiscoveryReq | vehicle limits into the envelope; our offer back |
| insulation test | CableCheckReq | lock, `insulation_test` at the IEC 61851-23:2023 voltage, contactors stay closed |
| pre-charge | PreChargeReq | `precharge` to the EV's target at ≤ 2 A |
| contactor closure | PowerDeliveryReq(Start) | `close_contactors` (insulation + voltage match checked there) |
| energy transfer | CurrentDemandReq loop | watch for stop, silence, faults (the bridge calls `ctx.request`) |
| stopping | PowerDeliveryReq(Stop), WeldingDetection, SessionStop | tell the EV (EVSE_Shutdown), ramp down, open |
| unlock | — | PWM off, discharge, unlock |
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from evse.hardware.roles import CpState
from evse.protocols.ccs.cable_check import insulation_test_voltage_v
from evse.protocols.ccs.link import InsulationState, Phase, V2gLink
from evse.protocols.ccs.pilot import PilotAction, PilotLogic, PowerOffRequired, SetPwm, SetStateF, VehicleGone
from evse.protocols.ccs.slac.link import SlacError
from evse.session.adapter import CCS_PLAN, Plan
from evse.session.context import VehicleLimits
from evse.session.errors import StageFailure, VehicleStop
from evse.session.stages import Reason, Stage

if TYPE_CHECKING:
    from evse.protocols.ccs.bridge import SeccBridge
    from evse.protocols.ccs.secc import Secc
    from evse.protocols.ccs.settings import CcsSettings
    from evse.session.context import StageContext

#: the energy-transfer watch loop's period (CurrentDemandReq arrives every ≤ 250 ms)
WATCH_PERIOD_S = 0.05
#: IEC 61851-23: the connector may unlock below 60 V
SAFE_TOUCH_V = 60.0
#: stop reasons that are safety trips: the EV is told EVSE_EmergencyShutdown
EMERGENCY_REASONS = frozenset({Reason.EMERGENCY_STOP, Reason.SAFETY_TRIP, Reason.INSULATION_FAULT})


class CcsAdapter:
    """One per session. `bridge` and `secc` belong to the connector and outlive the session."""

    plan: Plan = CCS_PLAN

    def __init__(
        self,
        settings: CcsSettings,
        bridge: SeccBridge | None,
        secc: Secc | None = None,
        slac: Callable[[], Awaitable[object]] | None = None,
        unavailable: str = "",
        stack: Callable[[], Awaitable[tuple[SeccBridge, Secc]]] | None = None,
    ) -> None:
        self.settings = settings
        self.bridge = bridge
        self.secc = secc
        #: loads the connector's V2G stack when it is not loaded yet (`CcsPort.stack`); awaited in wake-up
        self.stack = stack
        #: the EVSE side of SLAC on the PLC interface (hardware); None in simulation, where the veth pair is the
        #: matched link and the simulated car starts SDP on 5 % PWM
        self.slac = slac
        #: set when the connector has no V2G link at all (simulation without a network namespace)
        self.unavailable = unavailable
        self.link: V2gLink | None = None
        self.pilot_logic = PilotLogic(
            wake_up_f_s=settings.legacy_wake_up_f_s, c_to_b_power_off_s=settings.pilot_c_to_b_power_off_s
        )
        self.vehicle_gone = ""
        self._pilot_changed = asyncio.Event()

    # ------------------------------------------------------------------ lifecycle
    async def open(self, ctx: StageContext) -> None:
        self.link = V2gLink(ctx)
        if self.bridge is not None:
            self.bridge.bind(self.link)
        if ctx.pilot is not None:
            pilot = ctx.pilot
            self.pilot_logic.state = pilot.state()

            def changed() -> None:
                self._pilot_changed.set()
                self._apply(ctx, self.pilot_logic.observe(pilot.state(), ctx.now()))

            pilot.add_listener(changed)

    async def close(self) -> None:
        link = self.link
        if link is None:
            return
        if not link.reached(Phase.ENDED) and self.secc is not None:
            self.secc.close_v2g_session()
        if self.bridge is not None:
            self.bridge.unbind(link)

    async def run_stage(self, stage: Stage, ctx: StageContext) -> None:
        link = self.link
        if link is None:
            raise RuntimeError("run_stage before open")
        step = {
            Stage.CONNECTION_DETECTION: self._connection_detection,
            Stage.BMS_WAKE_UP: self._wake_up,
            Stage.AUTHORIZATION: self._authorization,
            Stage.PARAMETER_NEGOTIATION: self._negotiation,
            Stage.INSULATION_TEST: self._insulation_test,
            Stage.PRE_CHARGE: self._precharge,
            Stage.CONTACTOR_CLOSURE: self._contactor_closure,
            Stage.ENERGY_TRANSFER: self._energy_transfer,
            Stage.STOPPING: self._stopping,
            Stage.UNLOCK: self._unlock,
        }.get(stage)
        if step is None:
            return
        try:
            await step(link, ctx)
        except StageFailure:
            if stage not in (Stage.STOPPING, Stage.UNLOCK):
                link.failed = True  # the EV's next response says EVSE_Shutdown
            raise

    # ------------------------------------------------------------------ helpers
    async def _load_stack(self, link: V2gLink) -> None:
        """Before the 5 % PWM invites the EV to talk, the SECC must serve: wait for the connector's stack."""
        if self.stack is None:
            raise StageFailure(Reason.HARDWARE_FAULT, "the CCS connector has no V2G stack")
        try:
            self.bridge, self.secc = await self.stack()
        except Exception as exc:  # the JVM did not launch, the interface went away, …
            raise StageFailure(Reason.HARDWARE_FAULT, f"the CCS V2G stack did not start: {exc}") from None
        self.bridge.bind(link)

    def _apply(self, ctx: StageContext, actions: list[PilotAction]) -> None:
        pilot = ctx.pilot
        for action in actions:
            if isinstance(action, SetPwm) and pilot is not None:
                pilot.set_pwm(action.duty_pct)
            elif isinstance(action, SetStateF) and pilot is not None:
                pilot.set_state_f()
            elif isinstance(action, PowerOffRequired):
                # the supervisor cuts power on the same reading; the energy-transfer step ends the session
                ctx.log.warning("ccs pilot: power off required", reason=action.reason)
            elif isinstance(action, VehicleGone):
                self.vehicle_gone = f"control pilot in state {action.state.value}"

    async def _await_phase(self, link: V2gLink, phase: Phase, timeout_s: float, what: str) -> None:
        try:
            async with asyncio.timeout(timeout_s):
                got = await link.wait(phase)
        except TimeoutError:
            raise StageFailure(Reason.TIMEOUT, f"no {what} from the EV within {timeout_s:g} s") from None
        if got is Phase.ENDED:
            raise StageFailure(
                Reason.COMMUNICATION_LOST, f"V2G session ended before {what} ({link.end_reason or 'link closed'})"
            )

    async def _pilot_in(self, ctx: StageContext, states: set[CpState]) -> None:
        pilot = ctx.pilot
        assert pilot is not None
        while pilot.state() not in states:
            self._pilot_changed.clear()
            await self._pilot_changed.wait()

    # ------------------------------------------------------------------ steps
    async def _connection_detection(self, link: V2gLink, ctx: StageContext) -> None:
        if ctx.pilot is not None:
            await self._pilot_in(ctx, {CpState.B, CpState.C, CpState.D})

    async def _wake_up(self, link: V2gLink, ctx: StageContext) -> None:
        if self.unavailable:
            raise StageFailure(Reason.HARDWARE_FAULT, self.unavailable)
        if self.bridge is None:
            await self._load_stack(link)
        pilot = ctx.pilot
        self._apply(ctx, self.pilot_logic.begin_communication(ctx.now()))
        if self.slac is not None:
            try:
                await self.slac()
            except SlacError as error:
                raise StageFailure(Reason.COMMUNICATION_LOST, str(error)) from None
        attempts = self.settings.legacy_wake_up_attempts if pilot is not None else 0
        for attempt in range(attempts + 1):
            try:
                await self._await_phase(
                    link, Phase.SESSION_SETUP, self.settings.communication_setup_timeout_s, "SessionSetupReq"
                )
                break
            except StageFailure as failure:
                if failure.reason is not Reason.TIMEOUT or attempt == attempts or pilot is None:
                    raise
                # IEC 61851-1 A.5 legacy wake-up: an E/F step makes a sleeping EV communication controller restart
                ctx.log.info("ccs legacy wake-up", attempt=attempt + 1)
                self._apply(ctx, self.pilot_logic.wake_up(ctx.now()))
                await asyncio.sleep(self.settings.legacy_wake_up_f_s)
                self._apply(ctx, self.pilot_logic.tick(ctx.now()))
        ctx.identify(link.protocol, {"evcc_id": link.evcc_id, "protocol": link.protocol})

    async def _authorization(self, link: V2gLink, ctx: StageContext) -> None:
        await self._await_phase(
            link, Phase.AUTHORIZATION, self.settings.sequence_timeout_s, "ContractAuthenticationReq/AuthorizationReq"
        )
        # EIM: the session runs this step once its authorization (RFID, remote start, free vend) has passed
        link.authorized = True

    async def _negotiation(self, link: V2gLink, ctx: StageContext) -> None:
        await self._await_phase(
            link, Phase.CHARGE_PARAMETER_DISCOVERY, self.settings.sequence_timeout_s, "ChargeParameterDiscoveryReq"
        )
        if link.ev_max_voltage_v is None or link.ev_max_current_a is None:
            raise StageFailure(Reason.PROTOCOL_ERROR, "ChargeParameterDiscoveryReq without DC maximum voltage/current")
        offer = ctx.charger_offer()
        if link.ev_max_voltage_v < offer.min_voltage_v:
            raise StageFailure(
                Reason.VEHICLE_INCOMPATIBLE,
                f"EV maximum {link.ev_max_voltage_v:.0f} V is below the charger minimum {offer.min_voltage_v:.0f} V",
            )
        ctx.set_vehicle_limits(
            VehicleLimits(
                max_voltage_v=link.ev_max_voltage_v,
                max_current_a=link.ev_max_current_a,
                max_power_w=link.ev_max_power_w,
            )
        )
        if link.ev_soc_pct is not None:
            ctx.vehicle.soc_pct = link.ev_soc_pct
        link.negotiated = True

    async def _insulation_test(self, link: V2gLink, ctx: StageContext) -> None:
        await self._await_phase(link, Phase.CABLE_CHECK, self.settings.sequence_timeout_s, "CableCheckReq")
        await ctx.lock_connector()
        test_v = insulation_test_voltage_v(
            link.ev_max_voltage_v, ctx.charger_offer().max_voltage_v, self.settings.unknown_vehicle_max_voltage_v
        )
        link.insulation = InsulationState.RUNNING
        try:
            result = await ctx.insulation_test(test_v, keep_contactors_closed=True)
        except StageFailure as failure:
            link.insulation = InsulationState.FAULT if failure.reason is Reason.INSULATION_FAULT else link.insulation
            raise
        link.insulation_result = result
        if not result.passed or result.level == "fault":
            link.insulation = InsulationState.FAULT
            raise StageFailure(
                Reason.INSULATION_FAULT, f"{result.resistance_ohm:.0f} Ω at {result.test_voltage_v:.0f} V"
            )
        link.insulation = InsulationState.WARNING if result.level == "warning" else InsulationState.VALID

    async def _precharge(self, link: V2gLink, ctx: StageContext) -> None:
        await self._await_phase(link, Phase.PRE_CHARGE, self.settings.sequence_timeout_s, "PreChargeReq")
        await ctx.precharge(
            link.ev_target_voltage_v, self.settings.precharge_tolerance_v, self.settings.precharge_max_current_a
        )

    async def _contactor_closure(self, link: V2gLink, ctx: StageContext) -> None:
        await self._await_phase(
            link, Phase.POWER_DELIVERY_START, self.settings.sequence_timeout_s, "PowerDeliveryReq(Start)"
        )
        await ctx.close_contactors()
        link.contactors_closed.set()
        self.pilot_logic.set_energy_flowing(True)

    async def _energy_transfer(self, link: V2gLink, ctx: StageContext) -> None:
        silence_s = self.settings.current_demand_silence_s
        while True:
            if link.reached(Phase.POWER_DELIVERY_STOP):
                if link.charging_complete:
                    raise VehicleStop("EV reports charging complete", reason=Reason.COMPLETED)
                raise VehicleStop("EV sent PowerDeliveryReq(Stop)")
            if link.vehicle_violation:
                raise StageFailure(Reason.VEHICLE_FAULT, link.vehicle_violation)
            if link.ev_error:
                raise StageFailure(Reason.VEHICLE_FAULT, f"EV error {link.ev_error}", vehicle_reason=link.ev_error)
            if self.vehicle_gone:
                raise StageFailure(Reason.UNPLUGGED, self.vehicle_gone)
            if link.reached(Phase.ENDED):
                raise StageFailure(Reason.COMMUNICATION_LOST, f"V2G session ended: {link.end_reason}")
            last_s = link.last_current_demand_s or link.phase_t_s.get(Phase.POWER_DELIVERY_START, ctx.now())
            if ctx.now() - last_s > silence_s:
                raise StageFailure(Reason.COMMUNICATION_LOST, f"no CurrentDemandReq for {silence_s:g} s")
            await asyncio.sleep(WATCH_PERIOD_S)

    async def _stopping(self, link: V2gLink, ctx: StageContext) -> None:
        settings = self.settings
        link.emergency = ctx.stop_reason in EMERGENCY_REASONS or ctx.tripped
        link.evse_stopping = True  # every further DC_EVSEStatus says EVSE_Shutdown / StopCharging
        talking = link.reached(Phase.CURRENT_DEMAND) and not link.reached(Phase.ENDED) and not link.failed
        try:
            if talking and not link.reached(Phase.POWER_DELIVERY_STOP):
                # Charger-side stop: ramp down while the EV reacts to EVSE_Shutdown with PowerDeliveryReq(Stop)
                ramp = asyncio.ensure_future(ctx.ramp_down())
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(settings.welding_detection_wait_s):
                        await link.wait(Phase.POWER_DELIVERY_STOP)
                await ramp
            await ctx.open_contactors()
            link.contactors_opened.set()
            self.pilot_logic.set_energy_flowing(False)
            if link.emergency:
                self._apply(ctx, self.pilot_logic.fault(ctx.now()))  # state F: EVSE not available
            if talking and link.reached(Phase.POWER_DELIVERY_STOP):
                # WeldingDetection is optional for the EV; SessionStop ends the V2G session
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(settings.welding_detection_wait_s):
                        await link.wait(Phase.SESSION_STOP)
        finally:
            link.contactors_opened.set()
            if not link.reached(Phase.SESSION_STOP) and not link.reached(Phase.ENDED) and self.secc is not None:
                self.secc.close_v2g_session()

    async def _unlock(self, link: V2gLink, ctx: StageContext) -> None:
        self._apply(ctx, self.pilot_logic.end(ctx.now()))
        await ctx.discharge()
        # the cable between our open contactors and the EV's keeps its charge a little longer than our output
        # (the bleeder sits on our side): give it the same bounded time before asking for the unlock
        deadline_s = ctx.now() + self.settings.cable_discharge_wait_s
        while ctx.vehicle_side_voltage_v() >= SAFE_TOUCH_V and ctx.now() < deadline_s:  # noqa: ASYNC110 - a measurement, no event
            await asyncio.sleep(WATCH_PERIOD_S)
        await ctx.unlock_connector()


def connector_adapters(context: Any) -> Any:
    """The station's factory for a CCS connector (`evse.station.build`): a `CcsPort` (SECC, bridge, veth pair in
    simulation) that hands out a `CcsAdapter` per session."""
    from evse.protocols.ccs.port import CcsPort

    return CcsPort.from_context(context)
