"""Drivers are chosen by (role, name); unknown names list the known ones; plugins come through entry points."""

from __future__ import annotations

import importlib.metadata
from typing import Any

import pytest

from evse.hardware import registry
from evse.hardware.registry import ROLES, DriverContext, DriverError, create, known
from evse.hardware.roles import PowerModule
from evse.sim.world import SHARED_KEY, SimWorld


def ctx(connector_id: int = 1, shared: dict[str, Any] | None = None) -> DriverContext:
    return DriverContext(connector_id=connector_id, shared={} if shared is None else shared)


#: station-wide roles with no simulated driver: in simulated mode cards are presented through the API's authorize
STATION_ROLES = frozenset({"rfid"})


@pytest.mark.parametrize("role", sorted(set(ROLES) - STATION_ROLES))
def test_every_role_has_a_simulated_driver(role: str) -> None:
    assert "sim" in known(role)
    driver = create(role, "sim", {}, context=ctx())
    protocol = ROLES[role]
    assert protocol is object or isinstance(driver, protocol)


def test_unknown_driver_name_lists_known_names() -> None:
    with pytest.raises(DriverError) as err:
        create("power", "acme", {}, context=ctx(3))
    message = str(err.value)
    assert "connector 3" in message and "'acme'" in message and "sim" in message


def test_unknown_role_lists_roles() -> None:
    with pytest.raises(DriverError, match="contactors"):
        known("relay")


def test_sim_params_override_settings_and_reject_typos() -> None:
    shared: dict[str, Any] = {}
    power = create("power", "sim", {"max_current_a": 200}, context=ctx(2, shared))
    assert power.capabilities().max_current_a == 200
    assert shared[SHARED_KEY].plant(2).power is power
    with pytest.raises(DriverError, match="max_curent_a"):
        create("power", "sim", {"max_curent_a": 200}, context=ctx(2, shared))
    with pytest.raises(DriverError, match="takes no params"):
        create("meter", "sim", {"x": 1}, context=ctx(2, shared))


def test_drivers_of_one_connector_share_one_plant() -> None:
    shared: dict[str, Any] = {SHARED_KEY: SimWorld(seed=7)}
    contactors = create("contactors", "sim", {}, context=ctx(1, shared))
    imd = create("imd", "sim", {}, context=ctx(1, shared))
    other = create("contactors", "sim", {}, context=ctx(2, shared))
    world = shared[SHARED_KEY]
    assert world.plant(1).contactors is contactors and world.plant(1).imd is imd and other is not contactors


class FakePower:
    def capabilities(self) -> Any: ...
    def set_target(self, voltage_v: float, current_a: float) -> None: ...
    def enable(self) -> None: ...
    def disable(self) -> None: ...
    def enabled(self) -> bool:
        return False

    def measured_voltage_v(self) -> float:
        return 0.0

    def measured_current_a(self) -> float:
        return 0.0

    def fault(self) -> str | None:
        return None

    def discharge(self) -> None: ...
    def add_listener(self, listener: Any) -> None: ...


def fake_factory(params: dict[str, Any], context: DriverContext) -> FakePower:
    return FakePower()


def test_third_party_driver_through_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = importlib.metadata.EntryPoint("power:acme", f"{__name__}:fake_factory", registry.ENTRY_POINT_GROUP)

    def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
        return [entry] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry.importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(registry, "_loaded", False)
    try:
        assert "acme" in known("power")
        driver = create("power", "acme", {}, context=ctx())
        assert isinstance(driver, FakePower) and isinstance(driver, PowerModule)
    finally:
        registry.unregister("power", "acme")


def test_badly_named_entry_point_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    entry = importlib.metadata.EntryPoint("acme", f"{__name__}:fake_factory", registry.ENTRY_POINT_GROUP)
    monkeypatch.setattr(registry.importlib.metadata, "entry_points", lambda group: [entry])
    monkeypatch.setattr(registry, "_loaded", False)
    with pytest.raises(DriverError, match="'role:name'"):
        known("power")
    monkeypatch.setattr(registry, "_loaded", False)


def test_driver_that_does_not_implement_its_role_is_refused() -> None:
    registry.register("imd", "broken", lambda params, context: object())
    try:
        with pytest.raises(DriverError, match="does not implement InsulationMonitor"):
            create("imd", "broken", {}, context=ctx())
    finally:
        registry.unregister("imd", "broken")


async def test_pythoncan_link_opens_a_virtual_bus_and_reports_missing_params() -> None:
    channel = create("can", "pythoncan", {"interface": "virtual", "channel": "reg-test"}, context=ctx())
    try:
        assert channel.name == "virtual:reg-test"
    finally:
        channel.close()
    with pytest.raises(DriverError, match="'interface' and 'channel'"):
        create("can", "pythoncan", {"interface": "virtual"}, context=ctx())


def test_simulated_power_module_is_sized_like_its_connector() -> None:
    from evse.config.schema import Config, ConnectorSettings

    config = Config(connectors=[ConnectorSettings(id=4, standard="gbt", max_current_a=250.0, max_voltage_v=750.0)])
    context = DriverContext(connector_id=4, shared={}, settings=config)
    caps = create("power", "sim", {}, context=context).capabilities()
    assert (caps.max_current_a, caps.max_voltage_v) == (250.0, 750.0)
    caps = create("power", "sim", {"max_current_a": 100}, context=context).capabilities()
    assert caps.max_current_a == 100.0


def test_one_emergency_stop_for_the_station() -> None:
    shared: dict[str, Any] = {}
    assert create("estop", "sim", {}, context=ctx(1, shared)) is create("estop", "sim", {}, context=ctx(0, shared))
