"""IIO temperature sensors against a sysfs-shaped directory tree built by the test."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from evse.hardware import registry
from evse.hardware.drivers.board.temperatures import SENSOR_UNREADABLE, IioTemperatures
from evse.hardware.roles import Temperatures

pytestmark = pytest.mark.looptime


def tree(tmp_path: Path) -> dict[str, str]:
    device = tmp_path / "iio:device1"
    device.mkdir()
    (device / "in_temp0_input").write_text("41500\n")  # milli-°C
    (device / "in_temp1_raw").write_text("1200\n")
    (device / "in_temp1_scale").write_text("25.0\n")
    (device / "in_temp1_offset").write_text("-200\n")
    return {"dc_plus": str(device / "in_temp0_input"), "dc_minus": str(device / "in_temp1_raw")}


def set_sensor(path: str, text: str) -> None:
    Path(path).write_text(text + "\n")


async def test_readings_in_celsius_pushed_on_every_poll(tmp_path: Path) -> None:
    sensors = tree(tmp_path)
    temps = registry.create("temperatures", "iio", {"sensors": sensors}, context=registry.DriverContext(1))
    assert isinstance(temps, IioTemperatures) and isinstance(temps, Temperatures)
    assert temps.readings_c() == {"dc_plus": pytest.approx(41.5), "dc_minus": pytest.approx(25.0)}
    heard: list[dict[str, float]] = []
    temps.add_listener(lambda: heard.append(temps.readings_c()))
    set_sensor(sensors["dc_plus"], "90000")
    await asyncio.sleep(0.6)
    assert heard and heard[-1]["dc_plus"] == pytest.approx(90.0)
    set_sensor(sensors["dc_minus"], "not a number")
    await asyncio.sleep(0.6)
    assert temps.fault() == SENSOR_UNREADABLE and "dc_minus" not in temps.readings_c()
    temps.shutdown()


def test_a_wrong_sensor_path_is_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(registry.DriverError, match="does not exist"):
        registry.create(
            "temperatures",
            "iio",
            {"sensors": {"cable": str(tmp_path / "in_temp3_input")}},
            context=registry.DriverContext(1),
        )
