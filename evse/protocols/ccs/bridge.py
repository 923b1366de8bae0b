"""The iso15118 SECC's `EVSEControllerInterface`, answered from our session.

The SECC (one per connector, running for the daemon's lifetime) calls these methods while it builds each
response to the vehicle. They must answer quickly (the EVCC waits 2 s per request, 250 ms in CurrentDemand), so
they never run a stage themselves: they record what the vehicle said in the session's `V2gLink`, mark the V2G
phase reached, and answer from the decisions the adapter's stage steps have written there — "EVSEProcessing =
Ongoing" while a decision is pending (authorization, parameters, cable check). Power-path requests go through
the `StageContext` only (`request()` enforces the envelope), never to hardware.

EVSE status in every DC_EVSEStatus: EVSE_EmergencyShutdown after a safety trip or emergency stop, EVSE_Shutdown
(and EVSENotification StopCharging) when the charger stops or a handshake step failed, EVSE_IsolationMonitoringActive
while the insulation test runs, EVSE_Ready otherwise; the isolation status is the insulation test's result
(Invalid before it, Valid / Warning / Fault after). DIN 70121 EVs stop on a status code other than EVSE_Ready,
ISO 15118-2 EVs on StopCharging; we send both.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from iso15118.secc.controller.ev_data import EVDataContext
from iso15118.secc.controller.interface import AuthorizationResponse, EVSEControllerInterface, ServiceStatus
from iso15118.shared.messages.datatypes import (
    DCEVSEChargeParameter,
    DCEVSEStatus,
    DCEVSEStatusCode,
    EVSENotification,
    PhysicalValue,
    PVEVSEMaxCurrentLimit,
    PVEVSEMaxPowerLimit,
    PVEVSEMaxVoltageLimit,
    PVEVSEMinCurrentLimit,
    PVEVSEMinVoltageLimit,
    PVEVSEPeakCurrentRipple,
    PVEVSEPresentCurrent,
    PVEVSEPresentVoltage,
)
from iso15118.shared.messages.din_spec.datatypes import PMaxScheduleEntry as DinPMaxScheduleEntry
from iso15118.shared.messages.din_spec.datatypes import PMaxScheduleEntryDetails as DinPMaxEntryDetails
from iso15118.shared.messages.din_spec.datatypes import RelativeTimeInterval as DinRelativeTimeInterval
from iso15118.shared.messages.din_spec.datatypes import ResponseCode as DinResponseCode
from iso15118.shared.messages.din_spec.datatypes import SAScheduleTupleEntry as DinSAScheduleTupleEntry
from iso15118.shared.messages.enums import (
    AuthorizationStatus,
    CpState,
    EnergyTransferModeEnum,
    IsolationLevel,
    Protocol,
    UnitSymbol,
)
from iso15118.shared.messages.iso15118_2.datatypes import MeterInfo as MeterInfoV2
from iso15118.shared.messages.iso15118_2.datatypes import (
    PMaxSchedule,
    PMaxScheduleEntry,
    PVPMax,
    RelativeTimeInterval,
    SAScheduleTuple,
)
from iso15118.shared.messages.iso15118_2.datatypes import ResponseCode as ResponseCodeV2

from evse.hardware.roles import CpState as OurCpState
from evse.protocols.ccs.link import InsulationState, Phase, V2gLink
from evse.protocols.ccs.settings import CcsSettings

#: ISO 15118-2 [V2G2-304]: without a departure time the schedule covers at least 24 h
SCHEDULE_DURATION_S = 86400
#: DIN 70121 PMax is an unsigned short; the real power limit travels in EVSEMaximumPowerLimit
DIN_PMAX_MAX = 32767
#: how long a callback may wait for a stage step's decision before answering "ongoing" (EVCC waits 2 s)
DECISION_BUDGET_S = 1.0
#: a request current below the set-point by more than this counts as "current limit achieved"
LIMIT_ACHIEVED_MARGIN = 0.5

_ISOLATION: dict[InsulationState, IsolationLevel] = {
    InsulationState.NOT_STARTED: IsolationLevel.INVALID,
    InsulationState.RUNNING: IsolationLevel.INVALID,
    InsulationState.VALID: IsolationLevel.VALID,
    InsulationState.WARNING: IsolationLevel.WARNING,
    InsulationState.FAULT: IsolationLevel.FAULT,
}
_CP: dict[OurCpState, CpState] = {
    OurCpState.A: CpState.A2,
    OurCpState.B: CpState.B2,
    OurCpState.C: CpState.C2,
    OurCpState.D: CpState.D2,
    OurCpState.E: CpState.E,
    OurCpState.F: CpState.F,
    OurCpState.DIODE_FAULT: CpState.UNKNOWN,
}
#: responses whose sending marks a phase (the others are marked by the callbacks that build them)
_PHASE_OF_RESPONSE: dict[str, Phase] = {
    "SessionSetupRes": Phase.SESSION_SETUP,
    "WeldingDetectionRes": Phase.WELDING_DETECTION,
    "SessionStopRes": Phase.SESSION_STOP,
}


def _pv(cls: Any, value: float, unit: str) -> Any:
    exponent, number = PhysicalValue.get_exponent_value_repr(value)
    return cls(multiplier=exponent, value=number, unit=unit)


def _make(cls: Any, **fields: Any) -> Any:
    """Build a pydantic message model (keeps mypy out of pydantic v1's field aliases)."""
    return cls(**fields)


class _EvData(EVDataContext):
    """The package's EV data plus the CurrentDemandReq fields it does not keep (ChargingComplete, EVErrorCode)."""

    def __init__(self) -> None:
        super().__init__()
        self.charging_complete = False
        self.ev_error_code = "NO_ERROR"

    def update_charge_loop_parameters(self, current_demand_req: Any) -> None:
        super().update_charge_loop_parameters(current_demand_req)
        self.charging_complete = bool(getattr(current_demand_req, "charging_complete", False))
        status = getattr(current_demand_req, "dc_ev_status", None)
        if status is not None:
            self.ev_error_code = str(getattr(status.ev_error_code, "value", status.ev_error_code))


class SeccBridge(EVSEControllerInterface):
    """One per connector; bound to the running session's `V2gLink` by the adapter."""

    def __init__(self, settings: CcsSettings) -> None:
        super().__init__()
        self.settings = settings
        self.link: V2gLink | None = None
        self.ev_data_context = _EvData()

    def reset_ev_data_context(self) -> None:
        self.ev_data_context = _EvData()

    # ------------------------------------------------------------------ binding
    def bind(self, link: V2gLink) -> None:
        self.link = link
        self.reset_ev_data_context()

    def unbind(self, link: V2gLink) -> None:
        if self.link is link:
            self.link = None

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _reach(self, phase: Phase) -> None:
        link = self.link
        if link is not None and link.reach(phase, self._now()):
            link.ctx.trace("rx", "v2g", f"phase {phase.value}")

    async def _decided(self, check: Any, budget_s: float = DECISION_BUDGET_S) -> bool:
        """Wait (bounded) until `check()` is true: a stage step decides within a loop pass or two."""
        deadline = self._now() + budget_s
        while not check():
            if self._now() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # ------------------------------------------------------------------ common
    async def set_status(self, status: ServiceStatus) -> None:
        self.service_status = status

    async def get_evse_id(self, protocol: Protocol) -> str:
        if protocol == Protocol.DIN_SPEC_70121:
            return self.settings.evse_id_din
        return self.settings.evse_id

    async def get_supported_energy_transfer_modes(self, protocol: Protocol) -> list[EnergyTransferModeEnum]:
        if protocol == Protocol.DIN_SPEC_70121:
            return [EnergyTransferModeEnum.DC_EXTENDED]
        return [EnergyTransferModeEnum.DC_EXTENDED, EnergyTransferModeEnum.DC_CORE]

    def is_eim_authorized(self) -> bool:
        return False

    async def is_authorized(
        self,
        id_token: str | None = None,
        id_token_type: Any = None,
        certificate_chain: bytes | None = None,
        hash_data: Any = None,
    ) -> AuthorizationResponse:
        self._reach(Phase.AUTHORIZATION)
        link = self.link
        ok_code = DinResponseCode.OK if self.get_selected_protocol() == Protocol.DIN_SPEC_70121 else ResponseCodeV2.OK
        if link is not None and await self._decided(lambda: link.authorized or link.failed, 0.2):
            if link.authorized:
                return AuthorizationResponse(AuthorizationStatus.ACCEPTED, ok_code)
            return AuthorizationResponse(AuthorizationStatus.REJECTED, ok_code)
        return AuthorizationResponse(AuthorizationStatus.ONGOING, ok_code)

    def ready_to_charge(self) -> bool:
        return True

    async def send_rated_limits(self) -> None:
        """Called right after the SECC stored the EV's ChargeParameterDiscoveryReq (DIN and -2)."""
        link = self.link
        if link is None:
            return
        dc: Any = self.ev_data_context.rated_limits.dc_limits  # type: ignore[union-attr]
        link.ev_max_voltage_v = dc.max_voltage
        link.ev_max_current_a = dc.max_charge_current
        link.ev_max_power_w = dc.max_charge_power or None
        link.ev_soc_pct = self.ev_data_context.present_soc
        self._reach(Phase.CHARGE_PARAMETER_DISCOVERY)

    async def get_sa_schedule_list(
        self,
        ev_data_context: Any,
        is_free_charging_service: bool,
        max_schedule_entries: int | None,
        departure_time: int = 0,
    ) -> list[SAScheduleTuple] | None:
        link = self.link
        if link is None or not await self._decided(lambda: link.negotiated or link.failed) or link.failed:
            return None  # EVSEProcessing = Ongoing
        p_max = _pv(PVPMax, link.ctx.charger_offer().max_power_w, UnitSymbol.WATT)
        entry = _make(
            PMaxScheduleEntry,
            p_max=p_max,
            time_interval=_make(RelativeTimeInterval, start=0, duration=SCHEDULE_DURATION_S),
        )
        return [
            _make(SAScheduleTuple, sa_schedule_tuple_id=1, p_max_schedule=_make(PMaxSchedule, schedule_entries=[entry]))
        ]

    async def get_sa_schedule_list_dinspec(
        self, max_schedule_entries: int | None, departure_time: int = 0
    ) -> list[DinSAScheduleTupleEntry] | None:
        link = self.link
        if link is None or not await self._decided(lambda: link.negotiated or link.failed) or link.failed:
            return None
        details = _make(
            DinPMaxEntryDetails,
            p_max=DIN_PMAX_MAX,
            time_interval=_make(DinRelativeTimeInterval, start=0, duration=SCHEDULE_DURATION_S),
        )
        schedule = _make(DinPMaxScheduleEntry, p_max_schedule_id=0, entry_details=[details])
        return [_make(DinSAScheduleTupleEntry, sa_schedule_tuple_id=1, p_max_schedule=schedule, sales_tariff=None)]

    async def get_meter_info_v2(self) -> MeterInfoV2:
        return _make(MeterInfoV2, meter_id="evse", t_meter=int(time.time()))  # wall-clock ok: a calendar timestamp

    async def get_meter_info_v20(self) -> Any:
        raise NotImplementedError("ISO 15118-20 is not offered")

    async def get_supported_providers(self) -> None:
        return None

    async def set_hlc_charging(self, is_ongoing: bool) -> None:
        link = self.link
        if link is None:
            return
        if is_ongoing:
            self._reach(Phase.POWER_DELIVERY_START)
            # PowerDeliveryRes(Start) means "contactors closed": wait for the contactor-closure step (bounded)
            await self._decided(lambda: link.contactors_closed.is_set() or link.failed, 1.5)
        else:
            self._reach(Phase.POWER_DELIVERY_STOP)

    async def stop_charger(self) -> None:
        """Called on PowerDeliveryReq(Stop) and when the SECC's session ends; the stopping step acts."""

    async def get_cp_state(self) -> CpState:
        link = self.link
        if link is None or link.ctx.pilot is None:
            return CpState.C2  # no pilot role (simulation over a veth pair): the vehicle's state is implied
        return _CP[link.ctx.pilot.state()]

    async def service_renegotiation_supported(self) -> bool:
        return False

    async def get_service_parameter_list(self, service_id: int) -> None:
        return None

    async def is_contactor_closed(self) -> bool | None:
        link = self.link
        if link is None:
            return None
        if link.reached(Phase.POWER_DELIVERY_START):
            await self._decided(lambda: link.contactors_closed.is_set() or link.failed, 1.5)
            return link.contactors_closed.is_set()
        # CableCheck: "closed" once our insulation test (which closes the output contactors) is under way
        if link.insulation is InsulationState.NOT_STARTED:
            await self._decided(lambda: link.insulation is not InsulationState.NOT_STARTED or link.failed, 0.5)
        if link.failed:
            return False
        return True if link.insulation is not InsulationState.NOT_STARTED else None

    async def is_contactor_opened(self) -> bool:
        link = self.link
        if link is None:
            return True
        await self._decided(lambda: link.contactors_opened.is_set(), 1.5)
        return bool(link.contactors_opened.is_set())

    async def get_evse_status(self) -> None:
        return None

    async def set_present_protocol_state(self, state: Any) -> None:
        link = self.link
        if link is None:
            return
        message = getattr(state, "message", None)
        sent = str(message) if message is not None else "?"  # V2GMessage.__str__ names the body element
        link.ctx.trace("tx", "v2g", sent)
        phase = _PHASE_OF_RESPONSE.get(sent)
        if phase is Phase.SESSION_SETUP:
            evcc_id = self.ev_data_context.evcc_id
            link.evcc_id = evcc_id.hex() if isinstance(evcc_id, bytes) else str(evcc_id or "")
            protocol = self.get_selected_protocol()
            link.protocol = protocol.name if protocol is not None else ""
        if phase is not None:
            self._reach(phase)

    async def get_schedule_exchange_params(
        self, selected_energy_service: Any, control_mode: Any, schedule_exchange_req: Any
    ) -> Any:
        raise NotImplementedError("ISO 15118-20 is not offered")

    async def get_energy_service_list(self) -> Any:
        raise NotImplementedError("ISO 15118-20 is not offered")

    async def get_ac_evse_status(self) -> Any:
        raise NotImplementedError("AC is not offered")

    async def get_ac_charge_params_v2(self) -> Any:
        raise NotImplementedError("AC is not offered")

    async def get_ac_charge_params_v20(self, energy_service: Any) -> None:
        return None

    async def get_dc_charge_params_v20(self, energy_service: Any) -> None:
        return None

    async def get_15118_ev_certificate(self, base64_encoded_cert_installation_req: str, namespace: str) -> str:
        raise NotImplementedError("certificate installation (Plug & Charge) is not offered")

    async def update_data_link(self, action: Any) -> None:
        """The SLAC/pilot layer learns of the end through the adapter, not here."""

    async def session_ended(self, current_state: str, reason: str) -> None:
        link = self.link
        if link is not None:
            link.end_reason = f"{current_state}: {reason}"
            self._reach(Phase.ENDED)

    async def send_display_params(self) -> None:
        return None

    # ------------------------------------------------------------------ DC
    async def get_dc_evse_status(self) -> DCEVSEStatus:
        link = self.link
        if link is None:
            return _make(
                DCEVSEStatus,
                notification_max_delay=0,
                evse_notification=EVSENotification.NONE,
                evse_isolation_status=IsolationLevel.INVALID,
                evse_status_code=DCEVSEStatusCode.EVSE_NOT_READY,
            )
        # the supervisor's trip is visible at once, before the session reaches its stopping stage
        emergency = link.emergency or link.ctx.tripped
        stopping = link.evse_stopping or link.failed or emergency
        if emergency:
            code = DCEVSEStatusCode.EVSE_EMERGENCY_SHUTDOWN
        elif stopping:
            code = DCEVSEStatusCode.EVSE_SHUTDOWN
        elif link.insulation is InsulationState.RUNNING:
            code = DCEVSEStatusCode.EVSE_ISOLATION_MONITORING_ACTIVE
        else:
            code = DCEVSEStatusCode.EVSE_READY
        return _make(
            DCEVSEStatus,
            notification_max_delay=0,
            evse_notification=EVSENotification.STOP_CHARGING if stopping else EVSENotification.NONE,
            evse_isolation_status=_ISOLATION[link.insulation],
            evse_status_code=code,
        )

    async def get_dc_charge_parameters(self) -> DCEVSEChargeParameter:
        link = self.link
        if link is None:
            raise RuntimeError("ChargeParameterDiscovery without a session")
        offer = link.ctx.charger_offer()
        return _make(
            DCEVSEChargeParameter,
            dc_evse_status=await self.get_dc_evse_status(),
            evse_maximum_power_limit=_pv(PVEVSEMaxPowerLimit, offer.max_power_w, UnitSymbol.WATT),
            evse_maximum_current_limit=_pv(PVEVSEMaxCurrentLimit, offer.max_current_a, UnitSymbol.AMPERE),
            evse_maximum_voltage_limit=_pv(PVEVSEMaxVoltageLimit, offer.max_voltage_v, UnitSymbol.VOLTAGE),
            evse_minimum_current_limit=_pv(PVEVSEMinCurrentLimit, offer.min_current_a, UnitSymbol.AMPERE),
            evse_minimum_voltage_limit=_pv(PVEVSEMinVoltageLimit, offer.min_voltage_v, UnitSymbol.VOLTAGE),
            evse_peak_current_ripple=_pv(PVEVSEPeakCurrentRipple, 1, UnitSymbol.AMPERE),
        )

    async def get_evse_present_voltage(self, protocol: Protocol) -> PVEVSEPresentVoltage:
        link = self.link
        voltage_v = max(0.0, link.ctx.measured_voltage_v()) if link is not None else 0.0
        return _pv(PVEVSEPresentVoltage, round(voltage_v, 1), UnitSymbol.VOLTAGE)

    async def get_evse_present_current(self, protocol: Protocol) -> PVEVSEPresentCurrent:
        link = self.link
        current_a = max(0.0, link.ctx.measured_current_a()) if link is not None else 0.0
        return _pv(PVEVSEPresentCurrent, round(current_a, 1), UnitSymbol.AMPERE)

    async def start_cable_check(self) -> None:
        self._reach(Phase.CABLE_CHECK)

    async def get_cable_check_status(self) -> IsolationLevel | None:
        link = self.link
        if link is None or link.insulation in (InsulationState.NOT_STARTED, InsulationState.RUNNING):
            if link is not None and link.failed:
                return IsolationLevel.INVALID
            return None
        return _ISOLATION[link.insulation]

    async def send_charging_command(
        self,
        ev_target_voltage: float | None,
        ev_target_current: float | None,
        is_precharge: bool = False,
        is_session_bpt: bool = False,
    ) -> None:
        link = self.link
        if link is None:
            return
        ctx = link.ctx
        voltage_v = float(ev_target_voltage or 0.0)
        current_a = float(ev_target_current or 0.0)
        link.ev_target_voltage_v, link.ev_target_current_a = voltage_v, current_a
        ev_data = self.ev_data_context
        soc = ev_data.present_soc
        link.ev_soc_pct = soc
        ctx.vehicle.soc_pct = soc
        ctx.vehicle.requested_voltage_v, ctx.vehicle.requested_current_a = voltage_v, current_a
        if is_precharge:
            self._reach(Phase.PRE_CHARGE)
            return
        link.charging_complete = bool(getattr(ev_data, "charging_complete", False))
        ev_error = getattr(ev_data, "ev_error_code", "NO_ERROR")
        link.ev_error = "" if ev_error == "NO_ERROR" else ev_error
        link.last_current_demand_s = self._now()
        link.current_demand_count += 1
        self._reach(Phase.CURRENT_DEMAND)
        max_v = link.ev_max_voltage_v
        if max_v is not None and voltage_v > max_v:
            link.vehicle_violation = f"EV requested {voltage_v:.0f} V, above its own maximum of {max_v:.0f} V"
            return
        if link.evse_stopping or link.failed or link.emergency or not link.contactors_closed.is_set():
            return  # the stopping step owns the set-point now
        ctx.request(voltage_v, current_a)

    async def is_evse_current_limit_achieved(self) -> bool:
        link = self.link
        if link is None:
            return False
        return bool(link.ctx.setpoint().current_a < link.ev_target_current_a - LIMIT_ACHIEVED_MARGIN)

    async def is_evse_voltage_limit_achieved(self) -> bool:
        link = self.link
        if link is None:
            return False
        return bool(link.ctx.setpoint().voltage_v < link.ev_target_voltage_v - LIMIT_ACHIEVED_MARGIN)

    async def is_evse_power_limit_achieved(self) -> bool:
        link = self.link
        return link is not None and "power" in link.ctx.setpoint().limit_source

    async def get_evse_max_voltage_limit(self) -> PVEVSEMaxVoltageLimit:
        link = self.link
        voltage_v = link.ctx.charger_offer().max_voltage_v if link is not None else 0.0
        return _pv(PVEVSEMaxVoltageLimit, voltage_v, UnitSymbol.VOLTAGE)

    async def get_evse_max_current_limit(self) -> PVEVSEMaxCurrentLimit:
        link = self.link
        current_a = link.ctx.charger_offer().max_current_a if link is not None else 0.0
        return _pv(PVEVSEMaxCurrentLimit, current_a, UnitSymbol.AMPERE)

    async def get_evse_max_power_limit(self) -> PVEVSEMaxPowerLimit:
        link = self.link
        power_w = link.ctx.charger_offer().max_power_w if link is not None else 0.0
        return _pv(PVEVSEMaxPowerLimit, power_w, UnitSymbol.WATT)
