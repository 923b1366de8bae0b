"""A simulated CHAdeMO vehicle: the vehicle side of the protocol, driven by the battery model and the plant.

Behaviour (chademo.md, read from the vehicle's side):
* d1 on → after `wake_delay_s` the vehicle transmits 0x100, 0x101, 0x102 (and 0x110 for protocol 2.x) every
  100 ms on an absolute schedule.
* Once the charger's 0x108 shows enough voltage, it sets charging-enabled and closes k (after `k_delay_s`).
* d2 on → it closes its contactors (after checking the inlet is near 0 V); protocol ≥ 1.0 reports the contactor
  in 0x102 byte 5 bit 3, protocol 0.9 does not (the bit stays 0, the charger watches the inlet voltage).
* With the contactor closed it requests current: the battery's present limit, raised by `request_ramp_a` per
  cycle, never above the charger's 0x108 offer (unless the `over_request` fault says otherwise).
* At `target_soc_pct`, or when the charger sets its stop flag, it requests 0 A, clears charging-enabled, waits
  for the current to fall, opens its contactor (welding detection done → bit 3 = 1); after d2 off it releases k
  (and opens a contactor still closed: a stop before "charging" leaves the stop flag as it was during setup);
  after d1 off it falls silent.

Faults (`inject(name, **params)`, also reachable through the plant's fault hook): `fault_flag` (flag=one of
`FAULT_FLAGS`), `charging_system_fault`, `shift_lever`, `stop_request`, `disable_charging`, `release_k`,
`silence`, `contactor_never_closes`, `over_request` (amps=extra A above the offer).
"""

from __future__ import annotations

import asyncio
from typing import Any

from evse.can.channel import CanChannel, CanFrame
from evse.protocols.chademo import messages as m
from evse.protocols.chademo.codec import ChademoCodec, CodecError
from evse.sim.interfaces import VehiclePlant, VehicleProfile
from evse.sim.settings import SimSettings
from evse.sim.vehicle_plant import PluggedVehicle
from evse.sim.vehicles import register_vehicle

CYCLE_S = 0.1
#: the vehicle closes its contactors only with the inlet near 0 V (chademo.md step 9: no charger pre-charge)
INLET_SAFE_V = 20.0
#: "the current has fallen" before the vehicle opens its contactors (chademo.md step 13)
STOP_CURRENT_A = 5.0

FAULTS = (
    "fault_flag",
    "charging_system_fault",
    "shift_lever",
    "stop_request",
    "disable_charging",
    "release_k",
    "silence",
    "contactor_never_closes",
    "over_request",
)


class SimChademoVehicle:
    """One simulated CHAdeMO car on one connector. `protocol` is the profile's `[chademo]` table."""

    def __init__(self, plant: VehiclePlant, channel: CanChannel, protocol: dict[str, Any]) -> None:
        self.plant = plant
        self.channel = channel
        p = dict(protocol)
        self.protocol_number = int(p.get("protocol_number", m.ProtocolNumber.V1_0))
        self.max_battery_voltage_v = int(p.get("max_battery_voltage_v", round(plant.battery.max_voltage_v)))
        self.target_voltage_v = int(p.get("target_voltage_v", self.max_battery_voltage_v - 10))
        self.min_current_a = int(p.get("min_current_a", 0))
        self.capacity_scale_kwh = float(p.get("capacity_scale_kwh", 0.1))
        self.reference = int(p.get("charged_rate_reference", 100))
        #: quirk: the reference some cars send before k (240/255)
        self.reference_before_k = int(p.get("charged_rate_reference_before_k", self.reference))
        self.nonstandard_max_current_a = int(p.get("nonstandard_max_current_a", 0))
        self.max_charging_time_min = int(p.get("max_charging_time_min", 90))
        self.target_soc_pct = float(p.get("target_soc_pct", 80.0))
        self.wake_delay_s = float(p.get("wake_delay_s", 0.2))
        self.k_delay_s = float(p.get("k_delay_s", 0.5))
        self.request_ramp_a = float(p.get("request_ramp_a", 10.0))
        self.dynamic_control = bool(p.get("dynamic_control", self.protocol_number >= m.ProtocolNumber.V2_0))
        self.codec = ChademoCodec()
        # state
        self.transmitting = False
        self.enabled = False
        self.k = False
        self.request_a = 0.0
        self.stopping = False
        self.contactor_reported_open = True
        self.faults: set[str] = set()
        self.extra_flags: dict[str, bool] = {}
        self.over_request_a = 0.0
        self.contactor_never_closes = False
        #: the BMS went silent: it never transmits again in this plug-in
        self.silenced = False
        self.charger_capability: m.ChargerCapability | None = None
        self.charger_status: m.ChargerStatus | None = None
        self.frames_sent = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tx_origin_s = 0.0
        self._cycle = 0
        self._tx_handle: asyncio.TimerHandle | None = None
        self._pending: list[asyncio.TimerHandle] = []
        self._d1 = self._d2 = False
        self._was_charging = False
        self._permit_handle: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Plugged in: listen to the charger's lines and frames."""
        self._loop = asyncio.get_running_loop()
        self.channel.set_receiver(self._on_frame)
        on_output = getattr(self.plant, "on_charger_output", None)
        if on_output is not None:
            on_output(self._on_lines)
        set_handler = getattr(self.plant, "set_fault_handler", None)
        if set_handler is not None:
            set_handler(lambda name, params: self.inject(name, **params))
        self._on_lines()

    def stop(self) -> None:
        self.transmitting = False
        for handle in [self._tx_handle, *self._pending]:
            if handle is not None:
                handle.cancel()
        self._pending.clear()
        self._tx_handle = None
        self.channel.set_receiver(None)

    # ------------------------------------------------------------------ faults
    def inject(self, name: str, **params: Any) -> bool:
        """Make the vehicle misbehave; True if `name` is a CHAdeMO vehicle fault (or one of `evse.sim.faults`'
        generic names: vehicle_fault(kind), vehicle_fault_clear, vehicle_stop)."""
        if name == "vehicle_fault":
            kind = str(params.get("kind", ""))
            return (
                self.inject("fault_flag", flag=kind) if kind in m.FAULT_FLAGS else self.inject("charging_system_fault")
            )
        if name == "vehicle_fault_clear":
            self.faults.clear()
            self.extra_flags.pop("charging_system_fault", None)
            return True
        if name == "vehicle_stop":
            # the driver stops from the car: the vehicle withdraws its charge permission (k); clearing
            # charging-enabled alone is how a car that is done ends the charge (`completed`)
            return self.inject("release_k")
        if name == "fault_flag":
            flag = str(params.get("flag", "battery_over_voltage"))
            if flag not in m.FAULT_FLAGS:
                raise ValueError(f"unknown CHAdeMO fault flag {flag!r}; use one of {', '.join(m.FAULT_FLAGS)}")
            self.faults.add(flag)
        elif name in ("charging_system_fault", "shift_lever", "stop_request"):
            self.extra_flags[name] = True
        elif name == "disable_charging":
            self._begin_stop()
        elif name == "release_k":
            self._begin_stop()
            self._set_k(False)
        elif name == "silence":
            self.silenced = True
            self.transmitting = False
            if self._tx_handle is not None:
                self._tx_handle.cancel()
                self._tx_handle = None
        elif name == "contactor_never_closes":
            self.contactor_never_closes = True
        elif name == "over_request":
            self.over_request_a = float(params.get("amps", 50.0))
        else:
            return False
        return True

    # ------------------------------------------------------------------ lines
    def _on_lines(self) -> None:
        d1 = self.plant.charger_line("d1")
        d2 = self.plant.charger_line("d2")
        if d1 and not self._d1:
            self._later(self.wake_delay_s, self._wake)
        if not d1 and self._d1:
            self._set_k(False)
            self.enabled = False
            self._sleep()
        if d2 and not self._d2:
            self._close_contactors()
        if not d2 and self._d2:
            # the charger ended the sequence: give back the charge permission, and open the contactors if they are
            # still closed — a stop before the charger ever reported "charging" keeps 0x109's stop bit as it was
            # during setup, so only d2 going off tells the car (chademo.md steps 11 and 15)
            self._set_k(False)
            self._begin_stop()
            closed = self.plant.vehicle_contactors_closed()
            if closed and not self.silenced and self.plant.charge_current_a() <= STOP_CURRENT_A:
                self.plant.open_vehicle_contactors()  # (a silent car's controller is gone: its contactors stay)
        self._d1, self._d2 = d1, d2

    def _set_k(self, on: bool) -> None:
        self.k = on
        self.plant.set_vehicle_line("k", on)

    def _wake(self) -> None:
        if not self.plant.charger_line("d1") or self.transmitting or self.silenced:
            return
        assert self._loop is not None
        self.transmitting = True
        self._tx_origin_s = self._loop.time()
        self._cycle = 0
        self._transmit()

    def _sleep(self) -> None:
        self.transmitting = False
        if self._tx_handle is not None:
            self._tx_handle.cancel()
            self._tx_handle = None

    def _close_contactors(self) -> None:
        if self.contactor_never_closes or not self.k:
            return
        if self.plant.inlet_voltage_v() > INLET_SAFE_V:
            return  # the charger did not leave the inlet at ~0 V: a real car refuses to close
        self.plant.close_vehicle_contactors()

    # ------------------------------------------------------------------ frames
    def _on_frame(self, frame: CanFrame) -> None:
        try:
            msg = self.codec.decode(frame)
        except CodecError:
            return
        if isinstance(msg, m.ChargerCapability):
            self.charger_capability = msg
            self._maybe_permit()
        elif isinstance(msg, m.ChargerStatus):
            self.charger_status = msg
            if msg.charging:
                self._was_charging = True
            if self.k and (
                msg.charger_malfunction or msg.battery_incompatible or (msg.stop_control and self._was_charging)
            ):
                self._begin_stop()

    def _maybe_permit(self) -> None:
        cap = self.charger_capability
        if self.k or self.stopping or cap is None or not self.transmitting:
            return
        if cap.available_voltage_v < self.target_voltage_v:
            return  # incompatible: the car never permits
        if not self.enabled and self._permit_handle is None:
            assert self._loop is not None
            self._permit_handle = self._loop.call_later(self.k_delay_s, self._permit)
            self._pending.append(self._permit_handle)

    def _permit(self) -> None:
        self._permit_handle = None
        if self.k or self.stopping or not self.transmitting:
            return
        self.enabled = True
        self._set_k(True)

    def _transmit(self) -> None:
        if not self.transmitting:
            return
        assert self._loop is not None
        self._update_request()
        for frame in self.frames():
            self.channel.send(frame)
            self.frames_sent += 1
        self._cycle += 1
        self._tx_handle = self._loop.call_at(self._tx_origin_s + self._cycle * CYCLE_S, self._transmit)

    def frames(self) -> list[CanFrame]:
        battery = self.plant.battery
        reference = self.reference if self.k else self.reference_before_k
        closed = self.plant.vehicle_contactors_closed()
        if self.protocol_number <= m.ProtocolNumber.V0_9:
            contactor_open_bit = False  # 0.9: no contactor status
        else:
            contactor_open_bit = not closed
        frames = [
            self.codec.encode(
                m.VehicleBatteryLimits(
                    min_current_a=self.min_current_a,
                    nonstandard_max_current_a=self.nonstandard_max_current_a,
                    max_battery_voltage_v=self.max_battery_voltage_v,
                    charged_rate_reference=reference,
                )
            ),
            self.codec.encode(
                m.VehicleChargeTime(
                    max_charge_time_s=self.max_charging_time_min * 60,
                    estimated_charge_time_min=min(255, self.max_charging_time_min),
                    capacity_raw=round(battery.capacity_kwh / self.capacity_scale_kwh),
                )
            ),
            self.codec.encode(
                m.VehicleControl(
                    protocol_number=self.protocol_number,
                    target_voltage_v=self.target_voltage_v,
                    current_request_a=round(self.request_a),
                    faults=frozenset(self.faults),
                    charging_enabled=self.enabled,
                    shift_lever_not_park=self.extra_flags.get("shift_lever", False),
                    charging_system_fault=self.extra_flags.get("charging_system_fault", False),
                    contactor_open=contactor_open_bit,
                    normal_stop_request=self.extra_flags.get("stop_request", False),
                    charged_rate=min(255, round(battery.soc_pct * reference / 100.0)),
                )
            ),
        ]
        if self.protocol_number >= m.ProtocolNumber.V2_0:
            frames.append(self.codec.encode(m.VehicleExtendedFunctions(dynamic_control=self.dynamic_control)))
        return frames

    # ------------------------------------------------------------------ charging
    def _update_request(self) -> None:
        battery = self.plant.battery
        if self.stopping:
            self.request_a = 0.0
            if self.plant.vehicle_contactors_closed() and self.plant.charge_current_a() <= STOP_CURRENT_A:
                # welding detection done: open; the status bit follows the contactor
                self.plant.open_vehicle_contactors()
            return
        if not (self.k and self.enabled and self.plant.vehicle_contactors_closed()):
            self.request_a = 0.0
            return
        if battery.soc_pct >= self.target_soc_pct:
            self._begin_stop()
            self.request_a = 0.0
            return
        offer = float(self.charger_capability.available_current_a) if self.charger_capability else 0.0
        wanted = min(battery.max_charge_current_a(), offer) + self.over_request_a
        if wanted > self.request_a:
            self.request_a = min(wanted, self.request_a + self.request_ramp_a)
        else:
            self.request_a = wanted

    def _begin_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.enabled = False
        self.request_a = 0.0

    # ------------------------------------------------------------------ helpers
    def _later(self, delay_s: float, callback: Any) -> None:
        assert self._loop is not None
        self._pending = [h for h in self._pending if not h.cancelled() and h.when() > self._loop.time()]
        self._pending.append(self._loop.call_later(delay_s, callback))


def _factory(profile: VehicleProfile, plant: PluggedVehicle, link: Any, settings: SimSettings) -> SimChademoVehicle:
    return SimChademoVehicle(plant, link, profile.protocol)


register_vehicle("chademo", _factory)
