"""A whole simulated session captured as a `candump -L` log, read back and replayed through the decoders: our
codec (with the J1939 reassembly) and, for single-frame messages, cantools on the shipped DBC — what an operator
does with a trace from the field."""

from __future__ import annotations

import pytest

from evse.can.candump import CandumpWriter, read_log
from evse.can.channel import CanFrame
from evse.protocols.gbt import messages as m
from evse.protocols.gbt.codec import decode
from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS, PGN_TP_CM, PGN_TP_DT, parse_id
from evse.protocols.gbt.transport import Transport
from evse.protocols.gbt.wire import database
from tests.gbt.simrig import GbtRig

pytestmark = pytest.mark.looptime


def write_log(path: str, frames: list[CanFrame]) -> None:
    with open(path, "w", encoding="ascii") as stream:
        writer = CandumpWriter(stream, channel="can0")
        for frame in frames:
            writer.write(frame)


async def test_session_trace_captured_and_replayed(tmp_path: object) -> None:
    rig = GbtRig(battery={"soc_pct": 79.5})
    outcome = await rig.run()
    assert not outcome.failed
    path = f"{tmp_path}/session.log"
    write_log(path, rig.frames)
    frames = read_log(path)
    assert [(f.arbitration_id, f.data) for f in frames] == [(f.arbitration_id, f.data) for f in rig.frames]

    db = database()
    reassembler = Transport(CHARGER_ADDRESS, BMS_ADDRESS)  # a passive listener on the charger's behalf
    seen: dict[str, int] = {}
    reassembled: list[m.GbtMessage] = []
    for frame in frames:
        ident = parse_id(frame.arbitration_id)
        if ident.pgn in (PGN_TP_CM, PGN_TP_DT):
            for pgn, payload in reassembler.feed(frame, frame.timestamp_s).messages:
                reassembled.append(decode(pgn, payload))
            continue
        message = decode(ident.pgn, frame.data)  # never raises on what we and the BMS sent
        seen[message.PGN.name] = seen.get(message.PGN.name, 0) + 1
        # the same frame through cantools and the DBC, as an operator would decode it
        signals = db.decode_message(frame.arbitration_id, frame.data, decode_choices=False)
        assert isinstance(signals, dict) and signals
    assert {"CHM", "BHM", "CRM", "CTS", "CML", "BRO", "CRO", "BCL", "CCS", "BSM", "BST", "CST", "BSD", "CSD"} <= set(
        seen
    )
    brms = [r for r in reassembled if isinstance(r, m.Brm)]
    assert brms and brms[0].vin == "LGXCE4CB0N0000001" and brms[0].software_version is not None
    assert any(isinstance(r, m.Bcp) and r.max_total_voltage_v == 459.9 for r in reassembled)
    assert any(isinstance(r, m.Bcs) for r in reassembled)
