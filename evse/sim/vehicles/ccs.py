"""A simulated CCS vehicle: the `iso15118` EVCC driven by our battery model.

`CcsVehicle` implements the package's `EVControllerInterface` (what the EVCC asks the car) from a vehicle
profile's `[ccs]` table and the plant's battery; `run_evcc()` starts the package's EVCC for it with its sockets
inside the vehicle end of a veth pair (`evse.protocols.ccs.netns`). The EVCC keeps its own real-time timers, so a
CCS simulation runs in real time.

What the car does, step by step:
* ChargeParameterDiscovery: its maximum voltage / current / power from the profile, its energy capacity;
* PreCharge: asks for its pack voltage at ≤ 1 A, and is satisfied when the charger's present voltage is within
  `precharge_tolerance_v` of the pack; then it closes its contactors (on the plant) and sends PowerDelivery;
* CurrentDemand: asks for what the battery's BMS allows now (SOC taper, temperature) at the pack's charge
  voltage; at its target SOC it asks for 0 A, waits for the current to fall below 1 A, opens its contactors and
  stops (PowerDelivery(Stop), WeldingDetection, SessionStop).
Faults for tests and demos (`CcsVehicleFaults`): stop after a while (driver), go silent mid CurrentDemand, ask for
a voltage above its own maximum, report an error code.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from iso15118.evcc.controller.interface import ChargeParamsV2, EVControllerInterface
from iso15118.shared.messages.datatypes import (
    DCEVChargeParams,
    PhysicalValue,
    PVEVEnergyCapacity,
    PVEVEnergyRequest,
    PVEVMaxCurrentLimit,
    PVEVMaxPowerLimit,
    PVEVMaxVoltageLimit,
    PVEVTargetCurrent,
    PVEVTargetVoltage,
    PVRemainingTimeToBulkSOC,
    PVRemainingTimeToFullSOC,
)
from iso15118.shared.messages.din_spec.datatypes import DCEVStatus as DinDCEVStatus
from iso15118.shared.messages.enums import DCEVErrorCode, EnergyTransferModeEnum, ServiceV20, UnitSymbol
from iso15118.shared.messages.iso15118_2.datatypes import (
    ChargeProgress,
    ChargingProfile,
    DCEVPowerDeliveryParameter,
    DCEVStatus,
    ProfileEntryDetails,
)
from iso15118.shared.messages.iso15118_2.datatypes import DCEVChargeParameter as DCEVChargeParameterV2

from evse.sim.interfaces import VehiclePlant, VehicleProfile
from evse.sim.vehicles import VehicleError, register_vehicle

#: the `[ccs] protocol` names of a profile → the iso15118 protocol names the EVCC offers
PROTOCOLS: dict[str, str] = {"din": "DIN_SPEC_70121", "iso-2": "ISO_15118_2"}
#: ISO 15118-2 / DIN 70121 PreChargeReq: EVTargetCurrent must stay ≤ 2 A (the SECC refuses more)
PRECHARGE_REQUEST_A = 1.0
#: after asking for 0 A the car waits for the current to fall below this before opening its contactors
STOP_CURRENT_A = 1.0
#: ... but not longer than this
STOP_RAMP_WAIT_S = 5.0
#: WeldingDetectionReq cycles the car sends before SessionStop
WELDING_DETECTION_CYCLES = 2


def _pv(cls: Any, value: float, unit: str) -> Any:
    exponent, number = PhysicalValue.get_exponent_value_repr(value)
    return cls(multiplier=exponent, value=number, unit=unit)


def _make(cls: Any, **fields: Any) -> Any:
    """Build a pydantic message model (keeps mypy out of pydantic v1's field aliases)."""
    return cls(**fields)


@dataclass
class CcsVehicleFaults:
    """Misbehaviour to inject (None / empty = a well-behaved car)."""

    #: the driver stops charging from the car after this long in CurrentDemand
    stop_after_s: float | None = None
    #: the EVCC stops sending after this long in CurrentDemand (stays connected, sends nothing)
    silent_after_s: float | None = None
    #: from this long in CurrentDemand on, ask for `overvoltage_request_v` above the car's own maximum
    overvoltage_after_s: float | None = None
    overvoltage_request_v: float = 100.0


@dataclass
class CcsVehicleSpec:
    """The profile's `[ccs]` table."""

    protocol: str = "din"
    evcc_id: str = "0A1B2C3D4E5F"
    max_voltage_v: float = 410.0
    max_current_a: float = 350.0
    max_power_w: float = 135000.0
    target_soc_pct: float = 80.0
    precharge_tolerance_v: float = 20.0
    #: pause between CurrentDemand cycles (real cars loop every ~100 ms; the budget per exchange is 250 ms)
    charge_loop_delay_s: float = 0.1

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> CcsVehicleSpec:
        known = {k: v for k, v in table.items() if k in cls.__dataclass_fields__}
        spec = cls(**known)
        if spec.protocol not in PROTOCOLS:
            raise ValueError(f"[ccs] protocol {spec.protocol!r}: use one of {sorted(PROTOCOLS)}")
        return spec

    @property
    def iso15118_protocol(self) -> str:
        return PROTOCOLS[self.protocol]


class CcsVehicle(EVControllerInterface):
    """What the EVCC asks the car, answered from `spec`, `plant` (battery, contactors, current) and `faults`."""

    def __init__(self, spec: CcsVehicleSpec, plant: VehiclePlant, faults: CcsVehicleFaults | None = None) -> None:
        self.spec = spec
        self.plant = plant
        self.faults = faults or CcsVehicleFaults()
        self.precharged = False
        self.stopping = False
        self.stopped = False
        self.charging_since_s: float | None = None
        self._stop_since_s: float | None = None
        self._welding_cycles = 0
        self.current_demand_count = 0
        #: the running iso15118 EVCC handler (set by `run_evcc`)
        self.evcc_handler: Any = None

    # ------------------------------------------------------------------ state
    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _in_current_demand_s(self) -> float:
        return 0.0 if self.charging_since_s is None else self._now() - self.charging_since_s

    def soc_pct(self) -> int:
        return max(0, min(100, int(self.plant.battery.soc_pct)))

    def _target_current_a(self) -> float:
        if not self.precharged:
            return PRECHARGE_REQUEST_A
        if self.stopping:
            return 0.0
        return max(0.0, min(self.spec.max_current_a, self.plant.battery.max_charge_current_a()))

    def _target_voltage_v(self) -> float:
        battery = self.plant.battery
        if not self.precharged:
            return round(battery.open_circuit_voltage_v(), 1)
        target = min(self.spec.max_voltage_v, battery.max_voltage_v)
        after = self.faults.overvoltage_after_s
        if after is not None and self.charging_since_s is not None and self._in_current_demand_s() >= after:
            target = self.spec.max_voltage_v + self.faults.overvoltage_request_v
        return round(target, 1)

    # ------------------------------------------------------------------ common
    async def get_evcc_id(self, protocol: Any, iface: str) -> str:
        return self.spec.evcc_id

    async def get_energy_transfer_mode(self, protocol: Any) -> EnergyTransferModeEnum:
        return EnergyTransferModeEnum.DC_EXTENDED

    async def get_supported_energy_services(self) -> list[ServiceV20]:
        return [ServiceV20.DC]

    async def is_cert_install_needed(self) -> bool:
        return False

    def _cp(self, state: str) -> None:
        # IEC 61851-1: the car switches S2 (B → C) when it is ready for energy, back to B when it stops
        self.plant.set_vehicle_line("cp_state", state)

    async def process_sa_schedules_dinspec(self, sa_schedules: list[Any]) -> int:
        self._cp("C")
        return int(sa_schedules[0].sa_schedule_tuple_id)

    async def process_sa_schedules_v2(self, sa_schedules: list[Any]) -> tuple[ChargeProgress, int, ChargingProfile]:
        self._cp("C")
        schedule = sa_schedules[0]
        entries = [
            _make(ProfileEntryDetails, start=e.time_interval.start, max_power=e.p_max)
            for e in schedule.p_max_schedule.schedule_entries
        ]
        return ChargeProgress.START, schedule.sa_schedule_tuple_id, _make(ChargingProfile, profile_entries=entries)

    async def charge_loop_delay(self) -> int:
        # the EVCC passes this to asyncio.sleep: a float works although the package annotates int
        return self.spec.charge_loop_delay_s  # type: ignore[return-value]

    async def continue_charging(self) -> bool:
        """Asked after every CurrentDemandRes: True = send another CurrentDemandReq."""
        if not self.precharged:
            return True
        if self.charging_since_s is None:
            self.charging_since_s = self._now()
        self.current_demand_count += 1
        in_demand_s = self._in_current_demand_s()
        silent = self.faults.silent_after_s
        if silent is not None and in_demand_s >= silent:
            await asyncio.sleep(3600)  # the EVCC's session task is cancelled long before
        stop_after = self.faults.stop_after_s
        if not self.stopping and (
            self.plant.battery.soc_pct >= self.spec.target_soc_pct
            or (stop_after is not None and in_demand_s >= stop_after)
        ):
            self.stopping = True
            self._stop_since_s = self._now()
        if self.stopping:
            waited_s = self._now() - (self._stop_since_s or self._now())
            if self.plant.charge_current_a() <= STOP_CURRENT_A or waited_s >= STOP_RAMP_WAIT_S:
                self.plant.open_vehicle_contactors()
                self.stopped = True
                return False
        return True

    async def ready_to_charge(self) -> bool:
        return True

    async def is_charging_complete(self) -> bool:
        return bool(self.plant.battery.soc_pct >= self.spec.target_soc_pct)

    async def is_bulk_charging_complete(self) -> bool:
        return False

    async def get_remaining_time_to_full_soc(self) -> PVRemainingTimeToFullSOC:
        return _make(PVRemainingTimeToFullSOC, multiplier=0, value=0, unit="s")

    async def get_remaining_time_to_bulk_soc(self) -> PVRemainingTimeToBulkSOC:
        return _make(PVRemainingTimeToBulkSOC, multiplier=0, value=0, unit="s")

    async def welding_detection_has_finished(self) -> bool:
        self._welding_cycles += 1
        return self._welding_cycles >= WELDING_DETECTION_CYCLES

    async def stop_charging(self) -> None:
        self.stopping = True
        self.plant.open_vehicle_contactors()

    async def enable_charging(self, enabled: bool) -> None:
        if not enabled:
            # after PowerDeliveryRes(Stop): back to B ([V2G2-…] the EV leaves C once the charger has stopped)
            self.plant.open_vehicle_contactors()
            self._cp("B")

    def inject(self, name: str) -> bool:
        """Generic simulator faults (evse.sim.faults names): the driver stops, the EVCC falls silent."""
        now_s = self._in_current_demand_s()
        if name in ("vehicle_stop", "stop_request"):
            self.faults.stop_after_s = now_s
        elif name in ("bms_silence", "silence"):
            self.faults.silent_after_s = now_s
        else:
            return False
        return True

    async def store_contract_cert_and_priv_key(self, contract_cert: bytes, priv_key: bytes) -> None:
        return None

    async def get_prioritised_emaids(self) -> None:
        return None

    # ------------------------------------------------------------------ DC
    async def is_precharged(self, present_voltage_evse: Any) -> bool:
        present_v = float(present_voltage_evse.get_decimal_value())
        if abs(present_v - self.plant.battery.open_circuit_voltage_v()) <= self.spec.precharge_tolerance_v:
            self.precharged = True
            self.plant.close_vehicle_contactors()
            return True
        return False

    async def get_dc_charge_params(self) -> DCEVChargeParams:
        capacity_wh = self.plant.battery.capacity_kwh * 1000
        return _make(
            DCEVChargeParams,
            dc_max_current_limit=_pv(PVEVMaxCurrentLimit, self.spec.max_current_a, UnitSymbol.AMPERE),
            dc_max_power_limit=_pv(PVEVMaxPowerLimit, self.spec.max_power_w, UnitSymbol.WATT),
            dc_max_voltage_limit=_pv(PVEVMaxVoltageLimit, self.spec.max_voltage_v, UnitSymbol.VOLTAGE),
            dc_energy_capacity=_pv(PVEVEnergyCapacity, capacity_wh, UnitSymbol.WATT_HOURS),
            dc_target_current=_pv(PVEVTargetCurrent, round(self._target_current_a(), 1), UnitSymbol.AMPERE),
            dc_target_voltage=_pv(PVEVTargetVoltage, self._target_voltage_v(), UnitSymbol.VOLTAGE),
        )

    async def get_charge_params_v2(self, protocol: Any) -> ChargeParamsV2:
        params = await self.get_dc_charge_params()
        remaining_wh = max(0.0, (self.spec.target_soc_pct - self.plant.battery.soc_pct) / 100) * (
            self.plant.battery.capacity_kwh * 1000
        )
        dc = _make(
            DCEVChargeParameterV2,
            departure_time=0,
            dc_ev_status=await self.get_dc_ev_status(),
            ev_maximum_current_limit=params.dc_max_current_limit,
            ev_maximum_power_limit=params.dc_max_power_limit,
            ev_maximum_voltage_limit=params.dc_max_voltage_limit,
            ev_energy_capacity=params.dc_energy_capacity,
            ev_energy_request=_pv(PVEVEnergyRequest, remaining_wh, UnitSymbol.WATT_HOURS),
            full_soc=int(self.spec.target_soc_pct),
            bulk_soc=int(self.spec.target_soc_pct),
        )
        return ChargeParamsV2(EnergyTransferModeEnum.DC_EXTENDED, None, dc)

    async def get_dc_ev_status_dinspec(self) -> DinDCEVStatus:
        return _make(DinDCEVStatus, ev_ready=True, ev_error_code=DCEVErrorCode.NO_ERROR, ev_ress_soc=self.soc_pct())

    async def get_dc_ev_status(self) -> DCEVStatus:
        return _make(DCEVStatus, ev_ready=True, ev_error_code=DCEVErrorCode.NO_ERROR, ev_ress_soc=self.soc_pct())

    async def get_dc_ev_power_delivery_parameter(self) -> DCEVPowerDeliveryParameter:
        return _make(
            DCEVPowerDeliveryParameter,
            dc_ev_status=await self.get_dc_ev_status(),
            bulk_charging_complete=False,
            charging_complete=await self.is_charging_complete(),
        )

    async def get_dc_ev_power_delivery_parameter_dinspec(self) -> Any:
        return await self.get_dc_ev_power_delivery_parameter()

    # ------------------------------------------------------------------ ISO 15118-20 / AC: not simulated
    async def select_energy_service_v20(self, services: Any) -> Any:
        raise NotImplementedError("the simulated CCS vehicle speaks DIN 70121 and ISO 15118-2 DC only")

    async def select_vas_services_v20(self, services: Any) -> Any:
        return None

    async def get_charge_params_v20(self, selected_service: Any) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def get_scheduled_se_params(self, selected_energy_service: Any) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def get_dynamic_se_params(self, selected_energy_service: Any) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def process_scheduled_se_params(self, scheduled_params: Any, pause: bool) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def process_dynamic_se_params(self, dynamic_params: Any, pause: bool) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def get_ac_charge_loop_params_v20(self, control_mode: Any, selected_service: Any) -> Any:
        raise NotImplementedError("AC is not simulated")

    async def get_scheduled_dc_charge_loop_params(self) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def get_dynamic_dc_charge_loop_params(self) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def get_bpt_scheduled_dc_charge_loop_params(self) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def get_bpt_dynamic_dc_charge_loop_params(self) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def get_present_voltage(self) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def get_target_voltage(self) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")

    async def get_display_params(self) -> Any:
        raise NotImplementedError("ISO 15118-20 is not simulated")


async def run_evcc(vehicle: CcsVehicle, iface: str, namespace: str) -> None:
    """Run the iso15118 EVCC for `vehicle` on `iface` inside `namespace` until its V2G session ends."""
    await asyncio.to_thread(_load_evcc)
    from evse.protocols.ccs.evcc_netns import NetnsEvccHandler, evcc_config
    from evse.protocols.ccs.tasks import cancel_owned

    config = evcc_config([vehicle.spec.iso15118_protocol])
    handler = NetnsEvccHandler(config, iface, namespace, vehicle)
    vehicle.evcc_handler = handler
    try:
        await handler.start_session_handler()
    finally:
        await cancel_owned(_evcc_owners(handler))
        _close_evcc_sockets(handler)


def _load_evcc() -> None:
    """The V2G stack and the package's EVCC, loaded in a worker thread: a car plugged while the station is still
    loading the stack (imports, the codec's JVM and its warm-up, ~2 s) waits for it there, not on the event loop
    that every connector shares (`shared_codec()` blocks until the codec is ready)."""
    from evse.protocols.ccs.port import prepare_stack

    prepare_stack()
    import evse.protocols.ccs.evcc_netns  # noqa: F401


def _evcc_owners(handler: Any) -> list[object]:
    pair = getattr(handler, "comm_session", None)  # the package deletes the attribute when a session ends
    session, task = pair if pair else (None, None)
    if task is not None:
        task.cancel()
    return [handler, handler.udp_client, handler.tcp_client, session]


def _close_evcc_sockets(handler: Any) -> None:
    transport = getattr(handler.udp_client, "_transport", None)
    if transport is not None:
        transport.close()
    writer = getattr(handler.tcp_client, "writer", None)
    if writer is not None:
        writer.close()


#: the 5 % duty cycle that tells the car to start digital communication (IEC 61851-1 A.2.3)
DIGITAL_COMMUNICATION_DUTY_PCT = 5.0
#: how often the simulated car looks at the pilot while waiting for 5 %
PILOT_POLL_S = 0.05


class SimCcsVehicle:
    """The simulated CCS car in the simulator (`evse sim`): waits for 5 % PWM on the pilot (SLAC is bypassed in
    simulation: the veth pair is the matched PLC link), then runs the EVCC until its session ends."""

    def __init__(self, profile: VehicleProfile, plant: Any, link: Any, faults: CcsVehicleFaults | None = None) -> None:
        self.spec = CcsVehicleSpec.from_table(profile.protocol)
        self.plant = plant
        self.link = link
        self.vehicle = CcsVehicle(self.spec, plant, faults)
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        if self.link is None:
            raise VehicleError(
                "the simulated CCS vehicle needs a veth pair in a network namespace, which needs root: run the "
                "simulator as root (or simulate a CHAdeMO or GB/T vehicle)"
            )
        set_handler = getattr(self.plant, "set_fault_handler", None)
        if set_handler is not None:
            set_handler(lambda name, params: self.vehicle.inject(name))
        duty = getattr(self.plant, "pwm_duty_pct", lambda: DIGITAL_COMMUNICATION_DUTY_PCT)
        while duty() != DIGITAL_COMMUNICATION_DUTY_PCT:  # noqa: ASYNC110 - the plant has no PWM event
            await asyncio.sleep(PILOT_POLL_S)
        self._task = asyncio.ensure_future(run_evcc(self.vehicle, self.link.ev_iface, self.link.namespace))
        await self._task

    def stop(self) -> None:
        """Unplugged: the EVCC stops at once (its tasks are cancelled now, not when the loop next runs them)."""
        from evse.protocols.ccs.tasks import owned_tasks

        if self._task is not None:
            self._task.cancel()
        handler = self.vehicle.evcc_handler
        if handler is not None:
            for task in owned_tasks(_evcc_owners(handler)):
                task.cancel()
            _close_evcc_sockets(handler)


def _factory(profile: VehicleProfile, plant: Any, link: Any, settings: Any) -> SimCcsVehicle:
    return SimCcsVehicle(profile, plant, link)


register_vehicle("ccs", _factory, realtime=True)
