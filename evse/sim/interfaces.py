"""The simulated physical world as a simulated vehicle's protocol side sees it.

`evse.sim` builds one `VehiclePlant` per connector: it joins the simulated charger hardware (power module,
contactors, IMD, lines) to a vehicle's battery. The per-protocol vehicle sides (GB/T BMS, CHAdeMO vehicle, CCS
EVCC bridge) drive the plant — close their contactors, pull k, set CC1 by plugging — and read what the charger
does (inlet voltage, current, d1/d2, aux supply). Vehicle profiles are data files (`evse/sim/profiles/*.toml`):
`[vehicle]` (name, standard), `[battery]` (model parameters), and one protocol table (`[gbt]`, `[chademo]`,
`[ccs]`) handed as a dict to that protocol's simulated vehicle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class Battery(Protocol):
    """A traction battery: cells in series/parallel, OCV over SOC, internal resistance, a charge-current limit
    that tapers above ~80 % SOC and with temperature, and heating under current."""

    capacity_kwh: float
    max_voltage_v: float  # the pack's maximum charge voltage (what the BMS declares)
    soc_pct: float
    temperature_c: float

    def open_circuit_voltage_v(self) -> float: ...
    def terminal_voltage_v(self, current_a: float) -> float: ...
    def max_charge_current_a(self) -> float:
        """What the BMS would allow now (SOC taper, temperature derating)."""
        ...

    def max_cell_voltage_v(self) -> float: ...
    def step(self, current_a: float, dt_s: float) -> None:
        """Integrate charge and heat over `dt_s` at `current_a` (positive = charging)."""
        ...


class VehiclePlant(Protocol):
    """One vehicle plugged into one simulated connector."""

    battery: Battery

    # vehicle-side power path
    def close_vehicle_contactors(self) -> None: ...
    def open_vehicle_contactors(self) -> None: ...
    def vehicle_contactors_closed(self) -> bool: ...
    def inlet_voltage_v(self) -> float:
        """Voltage at the vehicle inlet: the pack voltage when the vehicle contactors are closed, otherwise what
        the charger puts on the cable."""
        ...

    def charge_current_a(self) -> float: ...

    # signal lines, vehicle view. Inputs the vehicle drives: "k" (CHAdeMO permission, bool), "cc1_v" (GB/T
    # detection-point-1 voltage: 12 / 6 / 4 V), "cp_state" (CCS: "A".."E"). Outputs the charger drives, read by
    # the vehicle: "d1", "d2", "aux_12v", "aux_24v".
    def set_vehicle_line(self, name: str, value: bool | float | str) -> None: ...
    def charger_line(self, name: str) -> bool: ...


@dataclass(frozen=True, slots=True)
class VehicleProfile:
    """A vehicle as a data file describes it."""

    name: str
    standard: str  # "ccs" | "chademo" | "gbt"
    battery: dict[str, Any]
    protocol: dict[str, Any] = field(default_factory=dict)
    description: str = ""
