"""build_station: roles by name through the hardware registry, limits from configuration ∩ capabilities, adapter
providers per standard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from evse.config.schema import Config
from evse.session.adapter import PLANS
from evse.session.events import EventBus
from evse.station.build import AdapterContext, SimpleAdapters, build_station, register_adapters, unregister_adapters
from tests.session.doubles import Rig, ScriptedAdapter

CONFIG: dict[str, Any] = {
    "station": {"power_budget_w": 90_000, "free_vend": True},
    "connectors": [
        {"id": 1, "standard": "ccs", "max_voltage_v": 920, "max_current_a": 200, "max_power_w": 150_000},
        {
            "id": 2,
            "standard": "gbt",
            "max_voltage_v": 750,
            "max_current_a": 250,
            "max_power_w": 60_000,
            "cable_max_current_a": 200,
            "cable_derating_start_c": 50,
        },
    ],
}


@pytest.fixture
def providers() -> Iterator[list[AdapterContext]]:
    seen: list[AdapterContext] = []

    def provider(context: AdapterContext) -> SimpleAdapters:
        seen.append(context)
        return SimpleAdapters(lambda: ScriptedAdapter(Rig(), PLANS[context.connector.standard]))

    for standard in ("ccs", "gbt"):
        register_adapters(standard, provider)
    yield seen
    for standard in ("ccs", "gbt"):
        unregister_adapters(standard)


async def test_build_from_configuration_with_simulated_drivers(providers: list[AdapterContext]) -> None:
    config = msgspec.convert(CONFIG, Config)
    station = build_station(config, bus=EventBus(), shared={})
    assert station.connector_ids() == [1, 2]
    ccs, gbt = station.connectors[1].spec, station.connectors[2].spec
    assert ccs.roles.pilot is not None and ccs.roles.lines is None and ccs.roles.can is None
    assert gbt.roles.pilot is None and gbt.roles.lines is not None and gbt.roles.can is not None
    assert ccs.roles.estop is gbt.roles.estop is not None  # one station-wide button
    assert gbt.charger.max_voltage_v == 750 and gbt.charger.max_power_w == 60_000
    assert (gbt.cable.max_current_a, gbt.cable.derating_start_c) == (200, 50)
    assert [c.connector.id for c in providers] == [1, 2] and providers[1].roles is gbt.roles
    assert station.power_budget_w == 90_000 and station.authorizer.free_vend
    assert isinstance(ccs.new_adapter(), ScriptedAdapter)
    await station.start()
    assert station.alive()
    await station.shutdown(1.0)


def test_unknown_driver_is_one_clear_sentence() -> None:
    from evse.hardware.registry import DriverError

    bad = {**CONFIG, "connectors": [{**CONFIG["connectors"][0], "hardware": {"lock": {"driver": "nope"}}}]}
    with pytest.raises(DriverError, match="no lock driver named 'nope'"):
        build_station(msgspec.convert(bad, Config), bus=EventBus(), shared={})
