"""The InfyPower driver on python-can's `virtual` bus (real time: its reader thread hands frames to the loop)."""

from __future__ import annotations

import asyncio

import can
import pytest

from evse.can.pythoncan import PythonCanChannel
from evse.hardware import registry
from evse.hardware.drivers.emulators.infypower import InfyModuleEmulator


async def test_driver_and_emulator_over_python_can_virtual() -> None:
    channel = "evse-test-infy"
    ctx = registry.DriverContext(connector_id=1)
    params = {"interface": "virtual", "channel": channel, "group": 1, "modules": [5, 6], "poll_interval_s": 0.02}
    group = registry.create("power", "infypower", params, context=ctx)
    emulated = [
        InfyModuleEmulator(
            PythonCanChannel(can.Bus(interface="virtual", channel=channel)), a, 1, group_size=2, load_a=lambda v: 40.0
        )
        for a in (5, 6)
    ]
    try:
        group.set_target(350.0, 100.0)
        group.enable()
        delivering = asyncio.Event()
        group.add_listener(lambda: delivering.set() if group.measured_current_a() > 39.0 else None)
        await asyncio.wait_for(delivering.wait(), timeout=2.0)
        assert group.measured_voltage_v() == pytest.approx(350.0)
        assert group.measured_current_a() == pytest.approx(40.0)
        assert group.fault() is None
    finally:
        group.shutdown()
        for module in emulated:
            module.channel.close()
        for bus in ctx.shared.values():
            bus.channel.close()
