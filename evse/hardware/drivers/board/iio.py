"""One ADC channel through the kernel IIO sysfs interface (Documentation/ABI/testing/sysfs-bus-iio).

`in_voltageN_raw` holds the raw reading; the voltage in mV is `(raw + offset) * scale` with `in_voltageN_scale`
(or the shared `in_voltage_scale`) and `in_voltageN_offset` (or `in_voltage_offset`, default 0). The scale is read
once at start (it changes only when the range is reconfigured); the raw value on every read — a sysfs read of an
on-chip ADC is a short synchronous conversion, acceptable inside the loop at the poll rates used here.
"""

from __future__ import annotations

import re
from pathlib import Path


class IioError(Exception):
    pass


class IioVoltage:
    def __init__(self, raw_path: str, divider: float = 1.0) -> None:
        self.raw_path = Path(raw_path)
        self.divider = divider
        match = re.fullmatch(r"in_voltage(\d+)_raw", self.raw_path.name)
        if match is None:
            raise IioError(f"ADC channel {raw_path} is not an IIO `in_voltageN_raw` file; fix the path")
        if not self.raw_path.exists():
            raise IioError(f"ADC channel {raw_path} does not exist; check the IIO device number and the channel")
        n = match.group(1)
        self.scale_mv = self._attribute((f"in_voltage{n}_scale", "in_voltage_scale"), 1.0)
        self.offset = self._attribute((f"in_voltage{n}_offset", "in_voltage_offset"), 0.0)

    def _attribute(self, names: tuple[str, ...], default: float) -> float:
        for name in names:
            path = self.raw_path.with_name(name)
            if path.exists():
                return float(path.read_text().strip())
        return default

    def voltage_v(self) -> float:
        try:
            raw = int(self.raw_path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise IioError(f"ADC channel {self.raw_path} cannot be read: {exc}") from exc
        return (raw + self.offset) * self.scale_mv / 1000.0 * self.divider
