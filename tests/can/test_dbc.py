"""The codecs' DBC reader (`evse.can.dbc`) against cantools on the shipped DBCs: the same messages and signals, the
same decoded values (and types), the same encoded payloads; what it refuses; arbitrary text never crashes it."""

from __future__ import annotations

import math
from pathlib import Path

import cantools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evse.can.dbc import DbcError, DbcMessage, parse_dbc
from evse.protocols.chademo.codec import DBC_PATH as CHADEMO_DBC
from evse.protocols.chademo.codec import load_database
from evse.protocols.gbt.wire import DBC_PATH as GBT_DBC
from evse.protocols.gbt.wire import database

SHIPPED = {"chademo": (CHADEMO_DBC, load_database()), "gbt": (GBT_DBC, database())}
REFERENCE = {name: cantools.database.load_file(str(path)) for name, (path, _) in SHIPPED.items()}
MESSAGES = sorted((dbc, m.name) for dbc, (_, db) in SHIPPED.items() for m in db.messages)


def _pair(dbc: str, name: str) -> tuple[DbcMessage, cantools.database.can.Message]:
    reference = REFERENCE[dbc]
    assert isinstance(reference, cantools.database.can.Database)
    return SHIPPED[dbc][1].get_message_by_name(name), reference.get_message_by_name(name)


@pytest.mark.parametrize("dbc", sorted(SHIPPED))
def test_same_messages_and_signals_as_cantools(dbc: str) -> None:
    ours, reference = SHIPPED[dbc][1], REFERENCE[dbc]
    assert isinstance(reference, cantools.database.can.Database)
    assert [(m.frame_id, m.name, m.length, m.is_extended_frame) for m in ours.messages] == [
        (m.frame_id, m.name, m.length, m.is_extended_frame) for m in reference.messages
    ]
    for message in ours.messages:
        expected = reference.get_message_by_name(message.name)
        assert ours.get_message_by_frame_id(message.frame_id) is message
        for signal, ref in zip(message.signals, expected.signals, strict=True):
            got = (signal.name, signal.start, signal.length, signal.byte_order, signal.is_signed, signal.is_float)
            assert got == (ref.name, ref.start, ref.length, ref.byte_order, ref.is_signed, ref.is_float)
            for attr in ("scale", "offset", "minimum", "maximum", "unit"):
                value, ref_value = getattr(signal, attr), getattr(ref, attr)
                assert (value, type(value)) == (ref_value, type(ref_value)), f"{message.name}.{signal.name}.{attr}"
            assert message.get_signal_by_name(signal.name) is signal


@settings(max_examples=400, deadline=None)
@given(which=st.sampled_from(MESSAGES), data=st.data())
def test_decodes_what_cantools_decodes(which: tuple[str, str], data: st.DataObject) -> None:
    ours, reference = _pair(*which)
    payload = data.draw(st.binary(min_size=ours.length, max_size=ours.length))
    expected = reference.decode(payload, decode_choices=False, scaling=True)
    got = ours.decode(payload)
    assert isinstance(expected, dict)
    assert {k: (v, type(v)) for k, v in got.items()} == {k: (v, type(v)) for k, v in expected.items()}


def _physical(signal: cantools.database.can.Signal) -> st.SearchStrategy[float]:
    """Physical values within the signal's range and field (what the codecs hand the encoder)."""
    low = 0 if signal.minimum is None else math.ceil((signal.minimum - signal.offset) / signal.scale - 1e-9)
    high = (1 << signal.length) - 1
    if signal.maximum is not None:
        high = min(high, math.floor((signal.maximum - signal.offset) / signal.scale + 1e-9))
    raw = st.integers(max(0, low), high)
    physical = raw.map(lambda r: r * signal.scale + signal.offset)  # an int for an integer scaling
    return st.one_of(physical, physical.map(float))


@settings(max_examples=400, deadline=None)
@given(which=st.sampled_from(MESSAGES), data=st.data())
def test_encodes_what_cantools_encodes(which: tuple[str, str], data: st.DataObject) -> None:
    ours, reference = _pair(*which)
    values = {s.name: data.draw(_physical(s), label=s.name) for s in reference.signals}
    expected = reference.encode(values, scaling=True, padding=False, strict=False)
    assert ours.encode(values) == expected
    assert ours.decode(ours.encode(values)) == reference.decode(expected, decode_choices=False)


def test_a_value_beyond_its_field_is_refused() -> None:
    message = SHIPPED["chademo"][1].get_message_by_frame_id(0x100)
    values = {s.name: 0 for s in message.signals} | {"MinChargeCurrent": 256}
    with pytest.raises(DbcError, match="MinChargeCurrent: raw value 256 does not fit in 8 bits"):
        message.encode(values)


def test_a_payload_of_the_wrong_length_is_refused() -> None:
    message = SHIPPED["chademo"][1].get_message_by_frame_id(0x100)
    with pytest.raises(DbcError, match="has 8 bytes, got 7"):
        message.decode(bytes(7))


HEAD = 'VERSION ""\nBU_: A B\nCM_ "a comment\nBO_ 1 Fake: 8 A\n that spans lines";\nBO_ 291 Frame: 2 A\n'


def test_comments_are_not_read_as_definitions() -> None:
    db = parse_dbc(HEAD + ' SG_ Value : 0|12@1+ (0.5,-10) [-10|2037.5] "V" B\n SG_ Flag : 12|1@1+ (1,0) [0|0] "" B\n')
    (message,) = db.messages
    assert (message.frame_id, message.name, message.length, message.is_extended_frame) == (0x123, "Frame", 2, False)
    value, flag = message.signals
    assert (value.scale, value.offset, value.minimum, value.maximum, value.unit) == (0.5, -10, -10, 2037.5, "V")
    assert (flag.minimum, flag.maximum, flag.unit) == (None, None, None)
    assert message.decode(b"\x14\x10") == {"Value": 0.0, "Flag": 1}


def test_an_extended_identifier_drops_the_flag_bit() -> None:
    (message,) = parse_dbc("BO_ 2552689750 CHM: 3 Charger\n").messages
    assert (message.frame_id, message.is_extended_frame) == (0x1826F456, True)


@pytest.mark.parametrize(
    "signal, reason",
    [
        (' SG_ Mux M : 0|8@1+ (1,0) [0|0] "" B', "multiplexed"),
        (' SG_ Muxed m1 : 0|8@1+ (1,0) [0|0] "" B', "multiplexed"),
        (' SG_ Motorola : 7|8@0+ (1,0) [0|0] "" B', "unsigned little-endian"),
        (' SG_ Signed : 0|8@1- (1,0) [0|0] "" B', "unsigned little-endian"),
        (' SG_ Real : 0|32@1+ (1,0) [0|0] "" B\nSIG_VALTYPE_ 291 Real : 1;', "unsigned little-endian"),
        (" SG_ Broken : 0|8", "unreadable signal definition"),
    ],
)
def test_signals_outside_the_readers_scope_are_refused(signal: str, reason: str) -> None:
    with pytest.raises(DbcError, match=reason):
        parse_dbc(HEAD + signal + "\n")


def test_an_unreadable_file_is_a_dbc_error(tmp_path: Path) -> None:
    from evse.can.dbc import load_dbc

    with pytest.raises(DbcError, match="cannot read the DBC"):
        load_dbc(tmp_path / "missing.dbc")


DBC_TOKENS = ["BO_ ", " SG_ ", "CM_ ", "VAL_ ", "SIG_VALTYPE_ ", "291", "0", "8", "0.5", "-", "x", " M ", ":", "|"]
DBC_TOKENS += ["@1+", "@0-", "(", ",", ")", "[", "]", '"', "\\", ";", " ", "\n"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(DBC_TOKENS),
        max_size=60,
    ).map("".join)
)
def test_arbitrary_text_is_read_or_refused_never_crashes(text: str) -> None:
    try:
        parse_dbc(text)
    except DbcError:
        pass
