"""The station: plug-in starts sessions, authorization, power sharing, status, stop and shutdown (virtual clock)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable

import pytest

from evse.safety.envelope import CableLimits
from evse.session.adapter import PLANS
from evse.session.events import ConnectorStatusChanged, Event, EventBus, SessionEnded
from evse.session.stages import OutcomeKind, Reason, Stage
from evse.station.authorization import LocalAuthorizer
from evse.station.connector import ConnectorSpec
from evse.station.control import Authorization, AuthorizationStatus, ConnectorStatus, StationControl
from evse.station.station import Station
from tests.session.doubles import CHARGER, Rig, ScriptedAdapter

pytestmark = pytest.mark.looptime


class Fixture:
    def __init__(self, standards: tuple[str, ...] = ("ccs", "gbt"), budget_w: float = 100_000, **auth: object) -> None:
        self.rigs: dict[int, Rig] = {}
        self.adapters: dict[int, list[ScriptedAdapter]] = {}
        self.adapter_kwargs: dict[str, object] = {"charge_s": 20.0, "request_a": 150.0}
        specs = []
        for cid, standard in enumerate(standards, start=1):
            rig = self.rigs[cid] = Rig()
            if standard != "ccs":
                rig.roles.pilot = None  # CHAdeMO and GB/T have no control pilot
            self.adapters[cid] = []
            specs.append(
                ConnectorSpec(
                    connector_id=cid,
                    standard=standard,
                    roles=rig.roles,
                    charger=CHARGER,
                    cable=CableLimits(250),
                    new_adapter=functools.partial(self._adapter, cid, rig, standard),
                )
            )
        self.bus = EventBus()
        self.events: list[Event] = []
        self.bus.subscribe(self.events.append)
        self.station = Station(
            specs,
            bus=self.bus,
            power_budget_w=budget_w,
            authorizer=LocalAuthorizer(**auth),  # type: ignore[arg-type]
        )
        self._tasks: list[asyncio.Task[None]] = []

    def _adapter(self, cid: int, rig: Rig, standard: str) -> ScriptedAdapter:
        adapter = ScriptedAdapter(rig, PLANS[standard], **self.adapter_kwargs)  # type: ignore[arg-type]
        self.adapters[cid].append(adapter)
        return adapter

    async def __aenter__(self) -> Fixture:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(rig.run()) for rig in self.rigs.values()]
        await self.station.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.station.shutdown(10.0)
        for task in self._tasks:
            task.cancel()

    def statuses(self, cid: int) -> list[str]:
        return [e.status for e in self.events if isinstance(e, ConnectorStatusChanged) and e.connector_id == cid]

    def ended(self, cid: int) -> list[SessionEnded]:
        return [e for e in self.events if isinstance(e, SessionEnded) and e.connector_id == cid]

    async def until(self, predicate: Callable[[], object], timeout_s: float = 120.0) -> None:
        """Poll on virtual time (costs nothing) until `predicate()` holds."""
        async with asyncio.timeout(timeout_s):
            for _ in range(int(timeout_s / 0.1) + 1):
                if predicate():
                    return
                await asyncio.sleep(0.1)


def test_station_implements_station_control() -> None:
    station: StationControl = Fixture().station
    assert station.connector_ids() == [1, 2]


async def test_start_drives_every_output_safe_first() -> None:
    fixture = Fixture(free_vend=True)
    rig = fixture.rigs[1]
    rig.contactors.cmd = True
    rig.power.on = True
    rig.lines.outputs["d1"] = True
    await fixture.station.start()
    assert not rig.contactors.cmd and not rig.power.on and rig.power.discharging and not rig.lines.outputs["d1"]
    assert fixture.station.alive()
    await fixture.station.shutdown(5.0)
    assert not fixture.station.alive()


async def test_plug_in_with_free_vend_charges_and_reports_status() -> None:
    # (a fixture would start the rigs before looptime takes over the loop's clock)
    async with Fixture(free_vend=True) as free:
        assert free.station.snapshot(1).status is ConnectorStatus.AVAILABLE
        free.rigs[1].plug(True)
        await free.until(lambda: free.ended(1))
        outcome = free.ended(1)[0].outcome
        assert outcome.kind is OutcomeKind.STOPPED_BY_VEHICLE
        statuses = free.statuses(1)
        assert statuses[:3] == ["Available", "Preparing", "Charging"]
        assert statuses[-1] == "Finishing"  # still plugged
        free.rigs[1].plug(False)
        await asyncio.sleep(0.1)
        assert free.statuses(1)[-1] == "Available"


async def test_rfid_before_plug_from_the_allow_list() -> None:
    async with Fixture(allow_list=["CAFE01"]) as fixture:
        rejected = await fixture.station.authorize(1, "BAD")
        assert rejected.status is AuthorizationStatus.INVALID
        accepted = await fixture.station.authorize(1, "cafe01")
        assert (accepted.status, accepted.source) == (AuthorizationStatus.ACCEPTED, "allow_list")
        fixture.rigs[1].plug(True)
        await fixture.until(lambda: fixture.ended(1))
        assert fixture.ended(1)[0].outcome.kind is OutcomeKind.STOPPED_BY_VEHICLE
        assert fixture.station.snapshot(1).id_tag is None  # session over


async def test_without_identification_the_session_waits_then_a_remote_authorizer_accepts() -> None:
    class Csms:
        async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
            return Authorization(AuthorizationStatus.ACCEPTED, id_tag, source="csms")

    async with Fixture() as fixture:
        fixture.rigs[2].plug(True)
        await asyncio.sleep(30)
        snap = fixture.station.snapshot(2)
        assert (snap.status, snap.stage) == (ConnectorStatus.PREPARING, "authorization")
        fixture.station.set_authorizer(Csms())
        result = await fixture.station.authorize(2, "RFID42")
        assert result.source == "csms"
        await fixture.until(lambda: fixture.station.snapshot(2).stage == "energy_transfer")
        assert fixture.station.snapshot(2).id_tag == "RFID42"


async def test_remote_start_then_plug() -> None:
    async with Fixture() as fixture:
        assert await fixture.station.remote_start(1, "REMOTE")
        fixture.rigs[1].plug(True)
        await fixture.until(lambda: fixture.station.snapshot(1).stage == "energy_transfer")


async def test_station_stop_and_unplug() -> None:
    # (a fixture would start the rigs before looptime takes over the loop's clock)
    async with Fixture(free_vend=True) as free:
        free.adapter_kwargs["charge_s"] = 1000.0
        free.rigs[1].plug(True)
        await free.until(lambda: free.station.snapshot(1).stage == "energy_transfer")
        assert await free.station.stop(1, "csms_stop")
        await free.until(lambda: free.ended(1))
        assert free.ended(1)[0].outcome.kind is OutcomeKind.STOPPED_BY_CSMS
        assert not await free.station.stop(1, "user_stop")  # nothing running
        free.rigs[2].plug(True)
        await free.until(lambda: free.station.snapshot(2).stage == "energy_transfer")
        free.rigs[2].plug(False)
        await free.until(lambda: free.ended(2))
        assert free.ended(2)[0].outcome.reason is Reason.UNPLUGGED


async def test_power_budget_is_shared_and_reallocated_at_once() -> None:
    # (a fixture would start the rigs before looptime takes over the loop's clock)
    async with Fixture(free_vend=True) as free:
        free.adapter_kwargs["charge_s"] = 1000.0
        station = free.station
        free.rigs[1].plug(True)
        await free.until(lambda: station.snapshot(1).stage == "energy_transfer")
        assert station.envelope(1).station_share_w == pytest.approx(60_000)  # capped by its charger rating
        free.rigs[2].plug(True)
        await free.until(lambda: station.snapshot(2).stage == "energy_transfer")
        assert station.envelope(1).station_share_w == pytest.approx(50_000)
        assert station.envelope(2).station_share_w == pytest.approx(50_000)
        station.set_csms_limit(2, None, 20_000)
        assert station.envelope(1).station_share_w == pytest.approx(60_000)
        assert station.envelope(2).station_share_w == pytest.approx(20_000)
        await asyncio.sleep(10)
        total_w = sum(station.snapshot(c).power_w for c in (1, 2))
        assert total_w <= 100_000 * 1.03
        await station.stop(1, "user_stop")
        await free.until(lambda: free.ended(1))
        assert station.envelope(1).station_share_w == 0.0
        assert station.envelope(2).station_share_w == pytest.approx(20_000)


async def test_unavailable_is_scheduled_during_a_session() -> None:
    # (a fixture would start the rigs before looptime takes over the loop's clock)
    async with Fixture(free_vend=True) as free:
        free.adapter_kwargs["charge_s"] = 5.0
        free.rigs[1].plug(True)
        await free.until(lambda: free.station.snapshot(1).stage == "energy_transfer")
        assert free.station.set_available(1, False) is False  # scheduled
        await free.until(lambda: free.ended(1))
        free.rigs[1].plug(False)
        await asyncio.sleep(0.1)
        assert free.station.snapshot(1).status is ConnectorStatus.UNAVAILABLE
        free.rigs[1].plug(True)
        await asyncio.sleep(5)
        assert len(free.adapters[1]) == 1  # no session on an inoperative connector
        assert free.station.set_available(1, True)
        await free.until(lambda: len(free.adapters[1]) == 2)


async def test_persistent_fault_shows_faulted_and_blocks_sessions() -> None:
    # (a fixture would start the rigs before looptime takes over the loop's clock)
    async with Fixture(free_vend=True) as free:
        free.rigs[1].estop.press()
        await asyncio.sleep(0.1)
        free.rigs[1].plug(True)
        await asyncio.sleep(2)
        assert free.station.snapshot(1).status is ConnectorStatus.FAULTED
        assert free.adapters[1] == []
        free.rigs[1].estop.press(False)
        free.rigs[1].plug(False)
        await asyncio.sleep(1.5)
        free.rigs[1].plug(True)
        await free.until(lambda: free.station.snapshot(1).stage == "energy_transfer")


async def test_station_pause_is_suspended_evse() -> None:
    # (a fixture would start the rigs before looptime takes over the loop's clock)
    async with Fixture(free_vend=True) as free:
        free.adapter_kwargs["charge_s"] = 1000.0
        free.rigs[1].plug(True)
        await free.until(lambda: free.station.snapshot(1).stage == "energy_transfer")
        assert free.station.set_station_pause(1, True)
        await asyncio.sleep(2)
        snap = free.station.snapshot(1)
        assert snap.status is ConnectorStatus.SUSPENDED_EVSE and snap.stage == Stage.PAUSED.value
        assert snap.current_a == 0.0
        free.station.set_station_pause(1, False)
        await asyncio.sleep(2)
        assert free.station.snapshot(1).status is ConnectorStatus.CHARGING


async def test_shutdown_stops_every_session_safely() -> None:
    fixture = Fixture(free_vend=True)
    fixture.adapter_kwargs["charge_s"] = 1000.0
    async with fixture:
        for rig in fixture.rigs.values():
            rig.plug(True)
        await fixture.until(lambda: all(fixture.station.snapshot(c).stage == "energy_transfer" for c in (1, 2)))
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await fixture.station.shutdown(30.0)
        assert loop.time() - t0 < 30.0
    for cid, rig in fixture.rigs.items():
        assert fixture.ended(cid)[0].outcome.reason is Reason.SHUTDOWN
        assert not rig.contactors.cmd and not rig.power.on and max(rig.contactors.openings) <= 5.0


async def test_unlock_command_stops_then_unlocks() -> None:
    # (a fixture would start the rigs before looptime takes over the loop's clock)
    async with Fixture(free_vend=True) as free:
        free.adapter_kwargs["charge_s"] = 1000.0
        free.rigs[1].plug(True)
        await free.until(lambda: free.station.snapshot(1).stage == "energy_transfer")
        assert await free.station.unlock(1)
        assert not free.rigs[1].lock.locked()
        assert free.ended(1)[0].outcome.kind is OutcomeKind.STOPPED_BY_USER
