"""The line that says a plug is in the vehicle inlet, as the supervisor watches it during energy transfer.

CCS has the control pilot (the supervisor's CP rule); CHAdeMO and GB/T have a connection line on their
`VehicleLines` role: CHAdeMO's connection check (a boolean input, "connected") and GB/T's detection point 1
(CC1, a voltage: 4 V = inserted and latched, gbt27930.md step 1). A plug that leaves its inlet under load is the
same danger as CP leaving C — the supervisor trips at once, inside the listener call that reports the change.

The adapter knows its standard's line and window (its settings) and offers it as its optional `plug_line`
attribute (`evse.session.adapter`); the session hands it to the supervisor when it binds it. A role that does not
offer the line (reading it raises) is never taken for a lost plug.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from evse.hardware.roles import VehicleLines

#: what a lines role raises for a line it does not have (unknown name, no ADC channel, not wired)
_NOT_OFFERED = (ValueError, KeyError, NotImplementedError)


@dataclass(frozen=True, slots=True)
class PlugLine:
    #: the input's name on the `VehicleLines` role ("connected", "cc1")
    line: str
    #: a voltage input (GB/T CC1): inserted while within `nominal_v` ± `tolerance_v`; None: a boolean input
    nominal_v: float | None = None
    tolerance_v: float = 0.0

    def inserted(self, lines: VehicleLines) -> bool | None:
        """True/False from the line now; None when the role does not offer it."""
        return self.read(lines)[0]

    def read(self, lines: VehicleLines) -> tuple[bool | None, str]:
        """(inserted, evidence) from one reading: the evidence says what the line read against what it should."""
        try:
            if self.nominal_v is None:
                active = bool(lines.input_active(self.line))
                return active, f"{self.line} line {'active' if active else 'inactive'}"
            voltage_v = lines.input_voltage_v(self.line)
        except _NOT_OFFERED:
            return None, f"{self.line} line not readable"
        inserted = abs(voltage_v - self.nominal_v) <= self.tolerance_v
        return inserted, f"{self.line} at {voltage_v:.1f} V (inserted: {self.nominal_v:g} ± {self.tolerance_v:g} V)"
