"""The station's CCS connector factory: SECC on the charger end of a veth pair it creates in simulation,
registered for the simulated car; everything removed on stop; a clear failure without a namespace."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

import pytest

from evse.protocols.ccs import port as port_module
from evse.protocols.ccs.adapter import CcsAdapter, connector_adapters
from evse.protocols.ccs.netns import NetnsUnavailable
from evse.protocols.ccs.settings import CcsSettings
from evse.session.errors import StageFailure
from evse.session.stages import Reason, Stage
from tests.ccs.fakes import FakeBattery, FakeContext, FakePlant


@dataclass
class _Link:
    interface: str = "sim"
    channel: str = ""


@dataclass
class _Connector:
    id: int = 7
    vehicle_link: _Link = field(default_factory=_Link)


@dataclass
class _Config:
    ccs: CcsSettings = field(default_factory=CcsSettings)


@dataclass
class _World:
    vehicle_links: dict[int, Any] = field(default_factory=dict)


@dataclass
class _Context:
    connector: _Connector = field(default_factory=_Connector)
    config: _Config = field(default_factory=_Config)
    shared: dict[str, Any] = field(default_factory=lambda: {"sim.world": _World()})


@pytest.mark.netns
async def test_simulated_connector_gets_its_own_veth_pair_and_secc(netns_ok: None) -> None:
    context = _Context()
    port = connector_adapters(context)
    await port.start()
    try:
        world = context.shared["sim.world"]
        veth = world.vehicle_links[7]
        assert veth.secc_iface == "evse7-s"
        await asyncio.wait_for(port.stack(), 60)  # loading began in the background at start (`start`, the default)
        assert port.secc is not None and port.secc.failed() is None
        adapter = port.new_adapter()
        assert isinstance(adapter, CcsAdapter) and adapter.secc is port.secc and adapter.slac is None
    finally:
        await port.stop()
    assert context.shared["sim.world"].vehicle_links == {}
    assert "evse7-ns" not in os.listdir("/run/netns")


def test_hardware_connector_runs_slac_on_the_plc_interface() -> None:
    context = _Context(connector=_Connector(vehicle_link=_Link("homeplug", "eth1")))
    port = connector_adapters(context)
    assert port.iface == "eth1" and not port.simulated
    assert port.new_adapter().slac is not None


async def test_without_a_namespace_the_ccs_connector_fails_in_wake_up_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(prefix: str) -> Any:
        raise NetnsUnavailable("creating a network namespace needs root")

    monkeypatch.setattr(port_module.VethLink, "create", staticmethod(refuse))
    port = connector_adapters(_Context())
    await port.start()  # the rest of the station keeps running
    assert "needs root" in port.unavailable
    adapter = port.new_adapter()
    ctx = FakeContext(FakePlant(FakeBattery(2.0, 50.0, 320, 400, 100)))
    await adapter.open(ctx)
    with pytest.raises(StageFailure) as failure:
        await adapter.run_stage(Stage.BMS_WAKE_UP, ctx)
    assert failure.value.reason is Reason.HARDWARE_FAULT and "cannot be simulated" in failure.value.detail
    await adapter.close()
    await port.stop()


@pytest.mark.netns
async def test_first_vehicle_loading_starts_the_v2g_stack_in_wake_up(netns_ok: None) -> None:
    """`ccs.stack_loading = "first_vehicle"`: nothing of the V2G stack at start; the first session's wake-up loads
    it (the SECC serves before the 5 % PWM invites the EV) and the adapter uses the connector's SECC."""
    context = _Context(config=_Config(ccs=CcsSettings(stack_loading="first_vehicle")))
    port = connector_adapters(context)
    await port.start()
    adapter = port.new_adapter()
    try:
        assert port.secc is None and port.bridge is None
        await asyncio.sleep(0.2)
        assert port.secc is None  # not loading in the background either
        ctx = FakeContext(FakePlant(FakeBattery(2.0, 50.0, 320, 400, 100)))
        await adapter.open(ctx)
        wake_up = asyncio.ensure_future(adapter.run_stage(Stage.BMS_WAKE_UP, ctx))
        async with asyncio.timeout(60):
            while port.secc is None and not wake_up.done():  # noqa: ASYNC110 - the stack loads in a worker thread
                await asyncio.sleep(0.05)
        assert port.secc is not None and port.secc.failed() is None
        assert adapter.secc is port.secc and adapter.bridge is port.bridge
        wake_up.cancel()
        with contextlib.suppress(asyncio.CancelledError, StageFailure):
            await wake_up
    finally:
        await adapter.close()
        await port.stop()


async def test_a_stack_that_does_not_start_fails_wake_up_with_the_reason_and_is_tried_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attempts: list[int] = []

    def jvm_dies() -> None:
        attempts.append(1)
        raise RuntimeError("the JVM exited with status 1")

    monkeypatch.setattr(port_module, "prepare_stack", jvm_dies)
    context = _Context(connector=_Connector(vehicle_link=_Link("homeplug", "eth1")))
    port = connector_adapters(context)
    await port.start()
    for attempt in (1, 2):
        adapter = port.new_adapter()
        ctx = FakeContext(FakePlant(FakeBattery(2.0, 50.0, 320, 400, 100)))
        await adapter.open(ctx)
        with pytest.raises(StageFailure) as failure:
            await adapter.run_stage(Stage.BMS_WAKE_UP, ctx)
        assert failure.value.reason is Reason.HARDWARE_FAULT
        assert failure.value.detail == "the CCS V2G stack did not start: the JVM exited with status 1"
        assert len(attempts) == attempt  # the next car tries again (a one-off launch failure is not for ever)
        await adapter.close()
    await port.stop()
