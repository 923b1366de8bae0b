"""SLAC EVSE role: codec properties, the sans-I/O state machine, and end to end over a veth pair against a
minimal EV side running in the vehicle's network namespace."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evse.protocols.ccs.netns import VethLink
from evse.protocols.ccs.slac import messages as m
from evse.protocols.ccs.slac.evse_role import (
    C_EV_MATCH_RETRY,
    TT_EVSE_SLAC_INIT_S,
    TT_MATCH_RESPONSE_S,
    Failed,
    Matched,
    Send,
    SlacEvse,
    SlacState,
    nid_from_nmk,
)
from evse.protocols.ccs.slac.link import SlacError, run_evse_slac
from tests.ccs.slac_ev import ev_slac

EV = bytes.fromhex("02aabbccdd01")
EVSE = bytes.fromhex("02aabbccdd02")
macs = st.binary(min_size=6, max_size=6)
ids = st.binary(min_size=17, max_size=17)
run_ids = st.binary(min_size=8, max_size=8)
u8 = st.integers(0, 255)
messages = st.one_of(
    st.builds(m.SlacParamReq, run_ids, u8, u8),
    st.builds(m.SlacParamCnf, macs, run_ids, u8, u8, u8, macs, u8, u8),
    st.builds(m.StartAttenCharInd, u8, u8, macs, run_ids, u8, u8, u8),
    st.builds(m.MnbcSoundInd, u8, run_ids, ids, st.binary(min_size=16, max_size=16), u8, u8),
    st.builds(m.AttenProfileInd, macs, st.binary(max_size=58)),
    st.builds(m.AttenCharInd, macs, run_ids, u8, st.binary(max_size=58), ids, ids, u8, u8),
    st.builds(m.AttenCharRsp, macs, run_ids, u8, ids, ids, u8, u8),
    st.builds(m.SlacMatchReq, macs, macs, run_ids, ids, ids, u8, u8),
    st.builds(
        m.SlacMatchCnf,
        macs,
        macs,
        run_ids,
        st.binary(min_size=7, max_size=7),
        st.binary(min_size=16, max_size=16),
        ids,
        ids,
        u8,
        u8,
    ),
    st.builds(
        m.SetKeyReq, st.binary(min_size=7, max_size=7), st.binary(min_size=16, max_size=16), st.integers(0, 2**32 - 1)
    ),
)


@given(macs, macs, messages)
def test_every_message_round_trips(dst: bytes, src: bytes, message: m.SlacMessage) -> None:
    frame = m.encode(dst, src, message)
    assert len(frame) >= 60
    assert m.decode(frame) == m.Frame(dst, src, message)


@given(st.binary(max_size=200))
def test_arbitrary_bytes_never_crash_the_decoder(data: bytes) -> None:
    try:
        m.decode(data)
    except m.SlacDecodeError:
        pass


@given(st.binary(max_size=120))
def test_arbitrary_mme_payloads_never_crash_the_state_machine(payload: bytes) -> None:
    slac = SlacEvse(EVSE)
    slac.start(0.0)
    for mmtype in (0x6064, 0x6068, 0x6084, 0x606F, 0x607C):
        frame = m.HEADER.pack(EVSE, EV, m.ETH_P_HOMEPLUG) + m.MME_HEADER.pack(m.MMV, mmtype, 0) + payload
        slac.feed(frame, 0.1)


def _sent(actions: list[Any]) -> list[m.SlacMessage]:
    out = []
    for action in actions:
        if isinstance(action, Send):
            frame = m.decode(action.frame)
            assert frame is not None
            out.append(frame.message)
    return out


def test_state_machine_matches_an_ev_and_hands_over_the_key() -> None:
    slac = SlacEvse(EVSE, nmk=bytes(range(16)))
    (set_key,) = _sent(slac.start(0.0))
    assert isinstance(set_key, m.SetKeyReq) and set_key.nmk == bytes(range(16)) and set_key.nid == slac.nid
    run = b"RUN-0001"
    (cnf,) = _sent(slac.feed(m.encode(m.BROADCAST, EV, m.SlacParamReq(run)), 1.0))
    assert isinstance(cnf, m.SlacParamCnf) and cnf.forwarding_sta == EV and cnf.run_id == run
    slac.feed(m.encode(m.BROADCAST, EV, m.StartAttenCharInd(10, 6, EV, run)), 1.1)
    for n in range(9):
        assert slac.feed(m.encode(EVSE, EV, m.AttenProfileInd(EV, bytes([30] * 58))), 1.2 + n / 100) == []
    (ind,) = _sent(slac.feed(m.encode(EVSE, EV, m.AttenProfileInd(EV, bytes([30] * 58))), 1.3))
    assert isinstance(ind, m.AttenCharInd) and ind.groups == bytes([30] * 58) and ind.num_sounds == 10
    assert slac.feed(m.encode(EVSE, EV, m.AttenCharRsp(EV, run)), 1.4) == []
    actions = slac.feed(m.encode(EVSE, EV, m.SlacMatchReq(EV, EVSE, run)), 1.5)
    (match,) = _sent(actions)
    assert isinstance(match, m.SlacMatchCnf) and match.nmk == bytes(range(16)) and match.nid == slac.nid
    assert actions[-1] == Matched(EV, run, slac.nid, 30.0)
    assert slac.state is SlacState.MATCHED


def test_sounding_window_closes_on_time_with_fewer_sounds() -> None:
    slac = SlacEvse(EVSE)
    slac.start(0.0)
    run = b"RUN-0002"
    slac.feed(m.encode(m.BROADCAST, EV, m.SlacParamReq(run)), 0.0)
    slac.feed(m.encode(m.BROADCAST, EV, m.StartAttenCharInd(10, 6, EV, run)), 0.0)
    slac.feed(m.encode(EVSE, EV, m.AttenProfileInd(EV, bytes([10] * 58))), 0.1)
    assert slac.tick(0.5) == []
    (ind,) = _sent(slac.tick(0.61))
    assert isinstance(ind, m.AttenCharInd) and ind.num_sounds == 1


def test_no_param_request_fails_after_tt_evse_slac_init() -> None:
    slac = SlacEvse(EVSE)
    slac.start(0.0)
    assert slac.tick(TT_EVSE_SLAC_INIT_S - 0.1) == []
    (failed,) = slac.tick(TT_EVSE_SLAC_INIT_S)
    assert isinstance(failed, Failed) and "CM_SLAC_PARAM.REQ" in failed.reason


def test_missing_atten_char_rsp_is_retried_then_fails() -> None:
    slac = SlacEvse(EVSE)
    slac.start(0.0)
    run = b"RUN-0003"
    slac.feed(m.encode(m.BROADCAST, EV, m.SlacParamReq(run)), 0.0)
    slac.feed(m.encode(m.BROADCAST, EV, m.StartAttenCharInd(1, 6, EV, run)), 0.0)
    slac.num_sounds = 1
    assert _sent(slac.feed(m.encode(EVSE, EV, m.AttenProfileInd(EV, bytes(58))), 0.1))
    t = 0.1
    for _ in range(C_EV_MATCH_RETRY):
        t += TT_MATCH_RESPONSE_S
        assert isinstance(_sent(slac.tick(t))[0], m.AttenCharInd)
    (failed,) = slac.tick(t + TT_MATCH_RESPONSE_S)
    assert isinstance(failed, Failed) and "CM_ATTEN_CHAR.RSP" in failed.reason


def test_nid_is_54_bits_of_the_hashed_nmk() -> None:
    nid = nid_from_nmk(bytes(16))
    assert len(nid) == 7 and nid[6] < 16
    assert nid != nid_from_nmk(bytes([1] * 16))


@pytest.mark.netns
async def test_slac_end_to_end_over_a_veth_pair(veth: VethLink) -> None:
    evse_side = asyncio.ensure_future(run_evse_slac(veth.secc_iface))
    await asyncio.sleep(0.05)  # the EVSE listens before the EV's first broadcast
    nmk, nid = await asyncio.wait_for(ev_slac(veth.namespace, veth.ev_iface), 5)
    matched = await asyncio.wait_for(evse_side, 5)
    assert matched.ev_mac == bytes.fromhex(veth.ev_mac.replace(":", ""))
    assert matched.nid == nid == nid_from_nmk(nmk)
    assert 20 <= matched.attenuation_db <= 22


@pytest.mark.netns
async def test_slac_end_to_end_fails_when_the_ev_never_answers(veth: VethLink) -> None:
    evse_side = asyncio.ensure_future(run_evse_slac(veth.secc_iface))
    await asyncio.sleep(0.05)
    ev = asyncio.ensure_future(ev_slac(veth.namespace, veth.ev_iface, answer_atten=False))
    with pytest.raises(SlacError, match=r"CM_ATTEN_CHAR\.RSP"):
        await asyncio.wait_for(evse_side, 5)
    ev.cancel()
