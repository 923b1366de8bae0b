"""`Temperatures` from kernel IIO temperature channels (Documentation/ABI/testing/sysfs-bus-iio: `in_tempN_input`
is milli-°C; `in_tempN_raw` converts as (raw + offset) × scale milli-°C with `in_tempN_scale` / `in_tempN_offset`).

Polled on loop time; listeners hear every new set of readings. A sensor that cannot be read is reported as
`fault()` == "temperature_sensor_unreadable" and left out of `readings_c()` — never replaced by a made-up value."""

from __future__ import annotations

import re
from pathlib import Path

from evse.hardware.drivers.board.iio import IioError
from evse.hardware.drivers.board.poller import Poller
from evse.hardware.drivers.settings import IioTemperaturesSettings
from evse.hardware.roles import Listener

SENSOR_UNREADABLE = "temperature_sensor_unreadable"


class IioTemperature:
    def __init__(self, path: str) -> None:
        self.path = Path(path)
        match = re.fullmatch(r"in_temp(\d*)_(input|raw)", self.path.name)
        if match is None:
            raise IioError(f"temperature sensor {path} is not an IIO `in_tempN_input` or `in_tempN_raw` file; fix it")
        if not self.path.exists():
            raise IioError(f"temperature sensor {path} does not exist; check the IIO device number and the channel")
        self.raw = match.group(2) == "raw"
        n = match.group(1)
        self.scale = self._attribute((f"in_temp{n}_scale", "in_temp_scale"), 1.0) if self.raw else 1.0
        self.offset = self._attribute((f"in_temp{n}_offset", "in_temp_offset"), 0.0) if self.raw else 0.0

    def _attribute(self, names: tuple[str, ...], default: float) -> float:
        for name in names:
            candidate = self.path.with_name(name)
            if candidate.exists():
                return float(candidate.read_text().strip())
        return default

    def celsius(self) -> float:
        try:
            value = float(self.path.read_text().strip())
        except (OSError, ValueError) as exc:
            raise IioError(f"temperature sensor {self.path} cannot be read: {exc}") from exc
        return (value + self.offset) * self.scale / 1000.0


class IioTemperatures:
    def __init__(self, sensors: dict[str, IioTemperature], settings: IioTemperaturesSettings) -> None:
        self.sensors = sensors
        self._readings: dict[str, float] = {}
        self._unreadable: set[str] = set()
        self._tick()
        self._poller = Poller(self._tick, settings.poll_interval_s, "iio-temperatures")

    def readings_c(self) -> dict[str, float]:
        return dict(self._readings)

    def fault(self) -> str | None:
        return SENSOR_UNREADABLE if self._unreadable else None

    def add_listener(self, listener: Listener) -> None:
        self._poller.listeners.append(listener)

    def shutdown(self) -> None:
        self._poller.close()

    def _tick(self) -> bool:
        readings: dict[str, float] = {}
        unreadable: set[str] = set()
        for name, sensor in self.sensors.items():
            try:
                readings[name] = sensor.celsius()
            except IioError:
                unreadable.add(name)
        self._readings, self._unreadable = readings, unreadable
        return True
