"""A whole simulated session captured as a candump log, then replayed through the decoder."""

from __future__ import annotations

from pathlib import Path

import pytest

from evse.can.candump import CandumpWriter, read_log
from evse.protocols.chademo import messages as m
from evse.protocols.chademo.trace import decode_frames, describe, main
from evse.session.stages import OutcomeKind
from tests.chademo.simrig import ChademoRig

pytestmark = pytest.mark.looptime


async def test_session_trace_round_trips_through_candump_and_decoder(tmp_path: Path) -> None:
    rig = ChademoRig(battery={"soc_pct": 79})
    outcome = await rig.run()
    assert outcome.kind is OutcomeKind.COMPLETED
    log = tmp_path / "session.log"
    with log.open("w", encoding="ascii") as stream:
        writer = CandumpWriter(stream, channel="can0")
        for frame in rig.frames:
            writer.write(frame)

    replayed = read_log(str(log))
    assert len(replayed) == len(rig.frames) > 1000
    assert [(f.arbitration_id, f.data) for f in replayed] == [(f.arbitration_id, f.data) for f in rig.frames]
    messages = list(decode_frames(replayed))
    assert len(messages) == len(replayed)  # every frame on the bus is a CHAdeMO frame that decodes
    assert not [msg for _, msg in messages if getattr(msg, "problems", ())]

    # the sequence, as an operator reads it from the log
    status = [msg for _, msg in messages if isinstance(msg, m.ChargerStatus)]
    control = [msg for _, msg in messages if isinstance(msg, m.VehicleControl)]
    assert status[0].stop_control and not status[0].charging and not status[0].connector_locked
    charging = [s.charging for s in status]
    start, end = charging.index(True), len(charging) - charging[::-1].index(True)
    assert all(charging[start:end])  # one contiguous charging period
    assert status[start - 1].connector_locked and not status[start].stop_control
    assert status[-1].stop_control and not status[-1].connector_locked
    contactor = [c.contactor_open for c in control]
    assert contactor[0] and not contactor[len(contactor) // 2] and contactor[-1]  # open → closed → open
    assert control[-1].charging_enabled is False


def test_trace_tool_prints_decoded_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "t.log"
    log.write_text(
        "(1.000000) can0 102#0290011405094100\n(1.000100) can0 109#020000000024FF5A\n(1.0002) can0 7DF#00\n",
        encoding="ascii",
    )
    assert main([str(log)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert "0x102 VehicleControl protocol_number=2 target_voltage_v=400 current_request_a=20" in lines[0]
    assert "faults=battery_over_voltage,current_deviation" in lines[0]
    assert "0x109 ChargerStatus" in lines[1] and "remaining_time_s=5400" in lines[1]


def test_trace_tool_names_a_bad_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "bad.log"
    log.write_text("(1.0) can0 102#0290\n", encoding="ascii")
    assert main([str(log)]) == 1
    assert "0x102 has 2 bytes" in capsys.readouterr().err
    assert main([str(tmp_path / "missing.log")]) == 2


def test_describe_shows_problems() -> None:
    from evse.can.channel import CanFrame
    from evse.protocols.chademo.codec import ChademoCodec

    frame = CanFrame(0x100, bytes([0, 0, 0, 0, 0xFF, 0xFF, 100, 0]), timestamp_s=2.0)
    msg = ChademoCodec().decode(frame)
    assert msg is not None
    assert "problems=0x100 MaxBatteryVoltage=65535 V" in describe(frame, msg)
