"""GB/T codec on the shipped DBC: known frames, range reporting, reserved bits, round trip and fuzz."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import cantools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evse.protocols.gbt.codec import GbtDecodeError, decode, encode
from evse.protocols.gbt.ids import BMS_ADDRESS, CHARGER_ADDRESS, Pgn, frame_id, parse_id
from evse.protocols.gbt.messages import (
    MESSAGE_TYPES,
    Bcl,
    Bcp,
    Bmt,
    Bmv,
    Brm,
    Bsm,
    Bsp,
    Bst,
    Ccs,
    Cem,
    Chm,
    Crm,
    Cst,
    Cts,
)
from evse.protocols.gbt.wire import DBC_PATH, GbtMessage, dbc_message


def test_dbc_declares_all_22_messages_with_reference_ids() -> None:
    # strict (cantools' default): overlapping or out-of-frame signals fail here; the runtime skips the checks
    db = cantools.database.load_file(str(DBC_PATH))
    assert isinstance(db, cantools.database.can.Database)
    assert len(db.messages) == 22
    ids = {m.name: m.frame_id for m in db.messages}
    # GB/T 27930 message table (shared/protocols/gbt27930.md)
    assert ids["CHM"] == 0x1826F456 and ids["BHM"] == 0x182756F4 and ids["BCL"] == 0x181056F4
    assert ids["BST"] == 0x101956F4 and ids["CEM"] == 0x081FF456 and ids["CRO"] == 0x100AF456
    assert {m.name: m.length for m in db.messages if m.name in {"BRM", "BCP", "BCS"}} == {
        "BRM": 49,
        "BCP": 13,
        "BCS": 9,
    }
    for message in db.messages:
        assert frame_id(Pgn[message.name], *_addresses(message.name)) == message.frame_id
        assert message.protocol == "j1939"


def _addresses(name: str) -> tuple[int, int]:
    return (CHARGER_ADDRESS, BMS_ADDRESS) if name[0] == "C" else (BMS_ADDRESS, CHARGER_ADDRESS)


def test_parse_id() -> None:
    parsed = parse_id(0x1CEC56F4)
    assert (parsed.priority, parsed.pgn, parsed.destination, parsed.source) == (7, 0xEC00, 0x56, 0xF4)


def test_known_payloads() -> None:
    assert encode(Chm()) == bytes.fromhex("010100")
    assert encode(Cem()) == bytes.fromhex("FCF0C0FC")  # idle pattern, unused bits 1
    bcl = decode(Pgn.BCL, bytes.fromhex("A00FD007 02".replace(" ", "")))
    assert isinstance(bcl, Bcl)
    assert bcl.voltage_demand_v == 400.0 and bcl.current_demand_a == 200.0 and bcl.mode == 2
    ccs = encode(Ccs(output_voltage_v=400, output_current_a=100, permitted=0))
    assert ccs == bytes.fromhex("A00FB80B0000FC")  # 400 − 100 A → raw 3000; B7 reserved bits 1


def test_bcp_scales() -> None:
    bcp = decode(Pgn.BCP, bytes.fromhex("6801 D007 E803 A00F 5A BC02 4C0E".replace(" ", "")))
    assert bcp == Bcp(
        max_cell_voltage_v=3.6,
        max_charge_current_a=200.0,
        nominal_energy_kwh=100.0,
        max_total_voltage_v=400.0,
        max_temperature_c=40,
        soc_pct=70.0,
        pack_voltage_v=366.0,
    )


def test_reserved_bits_are_masked_on_reading() -> None:
    zeros, ones = decode(Pgn.CCS, bytes.fromhex("A00FA00F000001")), decode(Pgn.CCS, bytes.fromhex("A00FA00F0000FD"))
    assert isinstance(zeros, Ccs) and zeros == ones and zeros.permitted == 1
    assert decode(Pgn.CCS, bytes.fromhex("A00FA00F0000FDFF")) == zeros  # 8-byte padded CCS
    # BST as real BMSs send it (reserved as 0) and as the standard says (reserved as 1)
    a, b = decode(Pgn.BST, bytes.fromhex("01000000")), decode(Pgn.BST, bytes.fromhex("010000F0"))
    assert isinstance(a, Bst) and a.active() == ("soc_target_reached",) and a == b


def test_out_of_range_is_reported_not_trusted() -> None:
    bcl = decode(Pgn.BCL, bytes.fromhex("FFFF B80B 02".replace(" ", "")))  # 6553.5 V > 1000 V
    assert isinstance(bcl, Bcl)
    assert bcl.voltage_demand_v is None and bcl.invalid == ("voltage_demand_v",) and bcl.current_demand_a == 100.0
    discharge = decode(Pgn.BCL, bytes.fromhex("A00F 1027 02".replace(" ", "")))  # raw 10000 → +600 A
    assert isinstance(discharge, Bcl) and discharge.current_demand_a is None


def test_cts_time_tolerates_invalid_bcd() -> None:
    assert decode(Pgn.CTS, b"\xff" * 7) == Cts(time=None)
    assert decode(Pgn.CTS, bytes.fromhex("3020152413 2620".replace(" ", ""))) == Cts(time=None)  # day 24, month 13
    when = dt.datetime(2026, 11, 24, 15, 20, 30)
    assert encode(Cts(time=when)) == bytes.fromhex("30201524112620")
    assert decode(Pgn.CTS, encode(Cts(time=when))) == Cts(time=when)


def test_brm_both_editions() -> None:
    brm = Brm(
        battery_type=3, rated_capacity_ah=150.0, rated_voltage_v=350.0, manufacturer="CATL", vin="LSVAU2180N2183294"
    )
    old = encode(brm)
    back = decode(Pgn.BRM, old)
    assert len(old) == 41 and isinstance(back, Brm)
    assert (back.vin, back.manufacturer, back.rated_voltage_v, back.software_version) == (
        "LSVAU2180N2183294",
        "CATL",
        350.0,
        None,
    )
    assert back.production_year is None and "production_year" in back.invalid  # sent as "not available"
    new = Brm(vin="LSVAU2180N2183294", software_version="0118061507e2ffff")
    back = decode(Pgn.BRM, encode(new))
    assert len(encode(new)) == 49 and isinstance(back, Brm) and back.software_version == new.software_version
    with pytest.raises(GbtDecodeError, match="BRM needs 41"):
        decode(Pgn.BRM, old[:30])


def test_arrays() -> None:
    assert decode(Pgn.BMV, encode(Bmv(cell_voltages_v=(3.31, 3.32, 3.3)))) == Bmv(cell_voltages_v=(3.31, 3.32, 3.3))
    assert decode(Pgn.BMT, bytes([75, 76, 0xFF])) == Bmt(temperatures_c=(25, 26, None), invalid=("Probe3Temperature",))
    assert decode(Pgn.BSP, encode(Bsp(data=b"\x01\x02"))) == Bsp(data=b"\x01\x02")


def test_bsm_permit_and_faults() -> None:
    bsm = decode(Pgn.BSM, encode(Bsm(charge_permit=0, insulation=1)))
    assert isinstance(bsm, Bsm) and bsm.charge_permit == 0 and bsm.faults() == ("insulation",)
    assert isinstance(decode(Pgn.CST, encode(Cst(manual_stop=1))), Cst)


def test_unknown_pgn_and_short_payload() -> None:
    with pytest.raises(GbtDecodeError):
        decode(0x4200, b"")
    with pytest.raises(GbtDecodeError):
        decode(Pgn.BCL, b"\x00")


# ---- property tests: every message round-trips; arbitrary bytes never crash ----------------------------------


def _field_strategy(cls: type[GbtMessage], field_name: str, signal_name: str) -> st.SearchStrategy[Any]:
    signal = dbc_message(cls.PGN.name).get_signal_by_name(signal_name)
    lo = 0 if signal.minimum is None else math.ceil((signal.minimum - signal.offset) / signal.scale - 1e-9)
    hi = (1 << signal.length) - 1
    if signal.maximum is not None:
        hi = min(hi, math.floor((signal.maximum - signal.offset) / signal.scale + 1e-9))
    raw = st.integers(lo, hi)
    physical: st.SearchStrategy[float]
    if signal.scale == 1 and float(signal.offset).is_integer():
        physical = raw.map(lambda r: r + int(signal.offset))
    else:
        physical = raw.map(lambda r: round(r * signal.scale + signal.offset, 6) + 0.0)
    if signal.offset == -400:
        physical = physical.map(lambda v: 0.0 - v)
    return physical


_TEXT = st.text(alphabet="ABCDEFGHJKLMNPRSTUVWXYZ0123456789", max_size=17)


def _message_strategy(cls: type[GbtMessage]) -> st.SearchStrategy[GbtMessage]:
    kwargs: dict[str, st.SearchStrategy[Any]] = {f: _field_strategy(cls, f, s) for f, s in cls.SIGNALS.items()}
    if cls is Crm:
        kwargs["region_code"] = _TEXT.map(lambda t: t[:3])
    if cls is Brm:
        kwargs["vin"] = _TEXT
        kwargs["manufacturer"] = _TEXT.map(lambda t: t[:4])
        kwargs["software_version"] = st.none() | st.binary(min_size=8, max_size=8).map(bytes.hex)
    if cls is Cts:
        kwargs["time"] = st.none() | st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2099, 12, 31)).map(
            lambda d: d.replace(microsecond=0)
        )
    if cls is Bmv:
        kwargs["cell_voltages_v"] = st.lists(
            st.integers(0, 2400).map(lambda r: round(r * 0.01, 6)), min_size=1, max_size=40
        ).map(tuple)
    if cls is Bmt:
        kwargs["temperatures_c"] = st.lists(st.integers(-50, 200), min_size=1, max_size=128).map(tuple)
    if cls is Bsp:
        kwargs["data"] = st.binary(min_size=1, max_size=16)
    return st.builds(cls, **kwargs)


@pytest.mark.parametrize("pgn", list(MESSAGE_TYPES), ids=lambda p: Pgn(p).name)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_round_trip(pgn: Pgn, data: st.DataObject) -> None:
    message = data.draw(_message_strategy(MESSAGE_TYPES[pgn]))
    payload = encode(message)
    assert decode(pgn, payload) == message


@pytest.mark.parametrize("pgn", list(MESSAGE_TYPES), ids=lambda p: Pgn(p).name)
@settings(max_examples=60, deadline=None)
@given(payload=st.binary(max_size=70))
def test_arbitrary_bytes_never_crash(pgn: Pgn, payload: bytes) -> None:
    try:
        message = decode(pgn, payload)
    except GbtDecodeError:
        return
    # whatever was decoded can be sent back without error
    encode(message)


def test_the_runtime_database_is_the_strictly_checked_one() -> None:
    from evse.protocols.gbt.wire import database

    strict = cantools.database.load_file(str(DBC_PATH))
    assert isinstance(strict, cantools.database.can.Database)
    runtime = database()
    for message in strict.messages:
        loaded = runtime.get_message_by_name(message.name)
        assert (loaded.frame_id, loaded.length) == (message.frame_id, message.length)
        assert [(s.name, s.start, s.length, s.scale, s.offset) for s in loaded.signals] == [
            (s.name, s.start, s.length, s.scale, s.offset) for s in message.signals
        ]


_DBC_MESSAGES = sorted(m.name for m in cantools.database.load_file(str(DBC_PATH)).messages)  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(_DBC_MESSAGES), data=st.binary(max_size=520))
def test_precomputed_layouts_read_what_cantools_reads(name: str, data: bytes) -> None:
    from evse.protocols.gbt.wire import raw_signals

    message = dbc_message(name)
    expected = message.decode(data[: message.length], decode_choices=False, scaling=False, allow_truncated=True)
    assert raw_signals(message, data) == {k: int(v) for k, v in expected.items()}  # type: ignore[arg-type,union-attr]


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(_DBC_MESSAGES), seed=st.integers(0, 2**64))
def test_precomputed_layouts_write_what_cantools_writes(name: str, seed: int) -> None:
    import random

    from evse.protocols.gbt.wire import pack_raw

    message = dbc_message(name)
    rng = random.Random(seed)
    chosen = rng.sample(message.signals, k=rng.randint(0, len(message.signals)))
    raws = {s.name: rng.randrange(1 << s.length) for s in chosen}
    padded = {s.name: (1 << s.length) - 1 for s in message.signals} | raws
    assert pack_raw(message, raws) == message.encode(padded, scaling=False, strict=False, padding=True)
