"""A traction battery as a simulated vehicle's BMS sees it (implements `evse.sim.interfaces.Battery`).

Model, per pack of `cells_series` × `cells_parallel` identical cells:
* open-circuit voltage over SOC from a per-chemistry cell curve (tables below: typical published OCV curves of
  NMC, LMO-blend and LFP cells at 25 °C, read at rest);
* internal resistance: the cell's DC resistance at 25 °C and mid SOC, higher when cold and at low SOC;
* terminal voltage = OCV + I·R (charging current positive);
* the current the BMS allows: the profile's charge curve (power over SOC — the taper real cars show above
  ~50–80 % SOC), capped by the pack's peak current, by a constant-voltage limit that keeps the highest cell below
  its maximum, and derated with temperature;
* heat: I²·R into a lumped thermal mass that the car's thermal system cools towards ambient.
Everything is plain arithmetic on floats: the plant calls `step()` every simulation tick.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_right
from typing import Annotated, Literal

import msgspec

# fmt: off
#: cell open-circuit voltage (V) over SOC (%), 25 °C, at rest
OCV_TABLES: dict[str, tuple[tuple[float, float], ...]] = {
    "nmc": (
        (0, 3.00), (5, 3.35), (10, 3.46), (20, 3.56), (30, 3.62), (40, 3.67), (50, 3.72), (60, 3.79),
        (70, 3.87), (80, 3.95), (90, 4.05), (100, 4.17),
    ),
    "lmo": (
        (0, 3.20), (5, 3.50), (10, 3.60), (20, 3.68), (30, 3.74), (40, 3.79), (50, 3.84), (60, 3.89),
        (70, 3.94), (80, 3.99), (90, 4.05), (100, 4.12),
    ),
    "lfp": (
        (0, 2.60), (5, 3.10), (10, 3.20), (20, 3.25), (30, 3.28), (40, 3.29), (50, 3.30), (60, 3.31),
        (70, 3.32), (80, 3.33), (90, 3.35), (95, 3.38), (100, 3.50),
    ),
}
# fmt: on
#: charge cut-off voltage per cell when the profile does not state one (datasheet-typical)
DEFAULT_MAX_CELL_VOLTAGE_V: dict[str, float] = {"nmc": 4.20, "lmo": 4.15, "lfp": 3.65}
# fmt: off
#: charge-current factor over pack temperature (°C): BMSs cut current hard when cold and near 55 °C
DEFAULT_TEMPERATURE_DERATING: tuple[tuple[float, float], ...] = (
    (-20.0, 0.0), (-10.0, 0.1), (0.0, 0.25), (10.0, 0.5), (20.0, 0.9), (25.0, 1.0), (45.0, 1.0), (50.0, 0.6),
    (55.0, 0.0),
)
# fmt: on
#: spread between the highest cell and the pack average (a balanced pack still has a few mV)
CELL_SPREAD_V = 0.005


class BatteryParams(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    """The `[battery]` table of a vehicle profile."""

    chemistry: Literal["nmc", "lmo", "lfp"]
    cells_series: Annotated[int, msgspec.Meta(gt=0)]
    cells_parallel: Annotated[int, msgspec.Meta(gt=0)] = 1
    cell_capacity_ah: Annotated[float, msgspec.Meta(gt=0)]
    #: DC resistance of one cell at 25 °C and mid SOC
    cell_resistance_ohm: Annotated[float, msgspec.Meta(gt=0)]
    max_charge_current_a: Annotated[float, msgspec.Meta(gt=0)]
    #: the car's DC charge curve: (SOC %, kW) points, linear in between (what the BMS allows at 25 °C)
    charge_power_kw: list[tuple[float, float]]
    max_cell_voltage_v: Annotated[float, msgspec.Meta(gt=0)] | None = None
    temperature_derating: list[tuple[float, float]] | None = None
    soc_pct: Annotated[float, msgspec.Meta(ge=0, le=100)] = 20.0
    temperature_c: float = 25.0
    ambient_c: float = 25.0
    heat_capacity_j_per_k: Annotated[float, msgspec.Meta(gt=0)] = 400_000.0
    cooling_w_per_k: Annotated[float, msgspec.Meta(ge=0)] = 150.0

    def __post_init__(self) -> None:
        points = self.charge_power_kw
        if len(points) < 2 or any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
            raise ValueError("charge_power_kw needs at least two (soc, kW) points with increasing SOC")
        if any(kw < 0 for _, kw in points):
            raise ValueError("charge_power_kw values must not be negative")


def interpolate(
    table: tuple[tuple[float, float], ...] | list[tuple[float, float]], x: float, xs: list[float] | None = None
) -> float:
    """Piecewise-linear lookup, clamped at both ends (`xs`: the table's x values, precomputed by hot callers)."""
    if x <= table[0][0]:
        return table[0][1]
    if x >= table[-1][0]:
        return table[-1][1]
    i = bisect_right(xs if xs is not None else [p[0] for p in table], x)
    (x0, y0), (x1, y1) = table[i - 1], table[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


class TractionBattery:
    """The `Battery` of a simulated vehicle."""

    def __init__(self, params: BatteryParams) -> None:
        self.params = params
        self._ocv = OCV_TABLES[params.chemistry]
        self._ocv_soc = [p[0] for p in self._ocv]
        self._derating = tuple(params.temperature_derating or DEFAULT_TEMPERATURE_DERATING)
        self._curve = tuple(params.charge_power_kw)
        self._curve_x = [p[0] for p in self._curve]
        self._derating_x = [p[0] for p in self._derating]
        self.cell_max_voltage_v = params.max_cell_voltage_v or DEFAULT_MAX_CELL_VOLTAGE_V[params.chemistry]
        self.capacity_ah = params.cell_capacity_ah * params.cells_parallel
        self.capacity_kwh = self.capacity_ah * params.cells_series * _mean_ocv(self._ocv) / 1000.0
        self.max_voltage_v = self.cell_max_voltage_v * params.cells_series
        self.soc_pct = params.soc_pct
        self.temperature_c = params.temperature_c
        self.ambient_c = params.ambient_c
        self.energy_in_wh = 0.0
        self._last_current_a = 0.0

    # ---- Battery protocol
    def open_circuit_voltage_v(self) -> float:
        return self._cell_ocv_v() * self.params.cells_series

    def resistance_ohm(self) -> float:
        """Pack DC resistance now: the cell's, raised when cold (electrolyte) and near empty."""
        p = self.params
        cold = 1.0 + 0.03 * max(0.0, 25.0 - self.temperature_c)
        empty = 1.0 + 0.5 * math.exp(-self.soc_pct / 8.0)
        return p.cell_resistance_ohm * cold * empty * p.cells_series / p.cells_parallel

    def terminal_voltage_v(self, current_a: float) -> float:
        return self.open_circuit_voltage_v() + current_a * self.resistance_ohm()

    def max_charge_current_a(self) -> float:
        if self.soc_pct >= 100.0:
            return 0.0
        ocv = self.open_circuit_voltage_v()
        by_curve = interpolate(self._curve, self.soc_pct, self._curve_x) * 1000.0 / max(ocv, 1.0)
        # constant-voltage phase: the highest cell may not exceed its maximum under load
        headroom_v = self.max_voltage_v - (ocv + CELL_SPREAD_V * self.params.cells_series)
        by_cv = max(0.0, headroom_v / self.resistance_ohm())
        derate = interpolate(self._derating, self.temperature_c, self._derating_x)
        return max(0.0, min(self.params.max_charge_current_a, by_curve, by_cv) * derate)

    def max_cell_voltage_v(self) -> float:
        per_cell_i = self._last_current_a / self.params.cells_parallel
        cold = 1.0 + 0.03 * max(0.0, 25.0 - self.temperature_c)
        empty = 1.0 + 0.5 * math.exp(-self.soc_pct / 8.0)
        return self._cell_ocv_v() + per_cell_i * self.params.cell_resistance_ohm * cold * empty + CELL_SPREAD_V

    def step(self, current_a: float, dt_s: float) -> None:
        if dt_s <= 0.0:
            return
        self._last_current_a = current_a
        if current_a != 0.0:
            self.energy_in_wh += self.terminal_voltage_v(current_a) * current_a * dt_s / 3600.0
            soc = self.soc_pct + current_a * dt_s / 36.0 / self.capacity_ah  # Ah → % : ×100/3600
            self.soc_pct = min(100.0, max(0.0, soc))
        heat_w = current_a * current_a * self.resistance_ohm()
        cooling_w = self.params.cooling_w_per_k * (self.temperature_c - self.ambient_c)
        self.temperature_c += (heat_w - cooling_w) * dt_s / self.params.heat_capacity_j_per_k

    # ---- helpers
    def _cell_ocv_v(self) -> float:
        table, soc = self._ocv, self.soc_pct
        if soc <= 0.0:
            return table[0][1]
        if soc >= 100.0:
            return table[-1][1]
        i = bisect_right(self._ocv_soc, soc)
        (x0, y0), (x1, y1) = table[i - 1], table[i]
        return y0 + (y1 - y0) * (soc - x0) / (x1 - x0)

    def energy_to_soc_kwh(self, target_soc_pct: float) -> float:
        """Energy the cells must take in to reach `target_soc_pct` from now (at open-circuit voltage)."""
        steps = 50
        lo, hi = self.soc_pct, max(self.soc_pct, target_soc_pct)
        total = 0.0
        for k in range(steps):
            soc = lo + (hi - lo) * (k + 0.5) / steps
            total += interpolate(self._ocv, soc)
        mean_cell_v = total / steps
        return (hi - lo) / 100.0 * self.capacity_ah * mean_cell_v * self.params.cells_series / 1000.0


def _mean_ocv(table: tuple[tuple[float, float], ...]) -> float:
    """Mean cell OCV over 0–100 % SOC (the nominal voltage that turns Ah into kWh)."""
    area = 0.0
    for (x0, y0), (x1, y1) in itertools.pairwise(table):
        area += (x1 - x0) * (y0 + y1) / 2.0
    return area / (table[-1][0] - table[0][0])
