"""The shared vocabulary and the in-loop CAN bus."""

from __future__ import annotations

import asyncio

import pytest

from evse.can.channel import CanError, CanFrame, InLoopBus
from evse.session.stages import Outcome, OutcomeKind, Reason, Stage, StageLog


def test_failure_outcome_names_stage_and_reason() -> None:
    outcome = Outcome.of(Stage.INSULATION_TEST, Reason.INSULATION_FAULT, "R=40 kΩ at 500 V")
    assert outcome.failed and outcome.kind is OutcomeKind.FAILED
    assert outcome.summary() == "failed in insulation_test: insulation_fault — R=40 kΩ at 500 V"


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        (Reason.COMPLETED, OutcomeKind.COMPLETED),
        (Reason.CSMS_STOP, OutcomeKind.STOPPED_BY_CSMS),
        (Reason.VEHICLE_STOP, OutcomeKind.STOPPED_BY_VEHICLE),
        (Reason.USER_STOP, OutcomeKind.STOPPED_BY_USER),
        (Reason.TIMEOUT, OutcomeKind.FAILED),
    ],
)
def test_outcome_kind_follows_reason(reason: Reason, kind: OutcomeKind) -> None:
    assert Outcome.of(Stage.ENERGY_TRANSFER, reason).kind is kind


def test_stage_log_sums_repeated_visits() -> None:
    log = StageLog()
    log.enter(Stage.ENERGY_TRANSFER, 0.0)
    log.enter(Stage.PAUSED, 10.0)
    log.enter(Stage.ENERGY_TRANSFER, 12.5)
    log.close(20.0)
    assert log.durations_s() == {Stage.ENERGY_TRANSFER: 17.5, Stage.PAUSED: 2.5}


async def test_in_loop_bus_delivers_to_others_with_loop_timestamps() -> None:
    bus = InLoopBus()
    charger, vehicle = bus.attach("charger"), bus.attach("vehicle")
    charger.send(CanFrame(0x108, bytes(8)))
    got = await asyncio.wait_for(vehicle.recv(), 1)
    assert got.arbitration_id == 0x108 and 0 < got.timestamp_s <= asyncio.get_running_loop().time()
    seen: list[CanFrame] = []
    charger.set_receiver(seen.append)
    vehicle.send(CanFrame(0x102, b"\x02" * 8))
    await asyncio.sleep(0)
    assert [f.arbitration_id for f in seen] == [0x102]
    vehicle.close()
    with pytest.raises(CanError):
        vehicle.send(CanFrame(0x102, bytes(8)))


def test_candump_line() -> None:
    frame = CanFrame(0x1826F456, bytes([1, 1, 0]), is_extended_id=True, timestamp_s=1.5)
    assert frame.candump() == "(1.500000) can0 1826F456#010100"
