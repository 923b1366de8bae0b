"""The EVSE side of SLAC (ISO 15118-3 §9, Annex A) as a sans-I/O state machine.

Feed it received frames (`feed(frame, now)`) and the passing of time (`tick(now)`); it returns actions: frames
to send, and at the end `Matched` (the EV joined our logical network: start SDP/V2G) or `Failed` (with the
reason). The socket layer (`link.py`) owns the raw socket and the timer; tests drive this class directly.

Sequence (EVSE view), started when the pilot shows 5 % PWM:
  start: CM_SET_KEY.REQ → own modem (a fresh NMK/NID for this session)
  WAIT_PARAM      ← CM_SLAC_PARAM.REQ (broadcast)     → CM_SLAC_PARAM.CNF
  WAIT_SOUNDS     ← CM_START_ATTEN_CHAR.IND ×3, CM_MNBC_SOUND.IND ×N, CM_ATTEN_PROFILE.IND ×N (own modem)
                    until N profiles or TT_EVSE_match_MNBC  → CM_ATTEN_CHAR.IND (average attenuation per group)
  WAIT_ATTEN_RSP  ← CM_ATTEN_CHAR.RSP (resend the IND up to C_EV_match_retry times, TT_match_response apart)
  WAIT_MATCH      ← CM_SLAC_MATCH.REQ                  → CM_SLAC_MATCH.CNF (NID, NMK)  → Matched
Frames for another run id or another EV are ignored once a run has started.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from hashlib import sha256

from evse.protocols.ccs.slac import messages as m

#: ISO 15118-3 Table A.1 timing (values as open stacks use them)
TT_EVSE_SLAC_INIT_S = 50.0  # 5 % PWM → CM_SLAC_PARAM.REQ (the EV's TT_EV_SLAC_init is 20–50 s)
TT_EVSE_MATCH_MNBC_S = 0.6  # sounding window after the first CM_START_ATTEN_CHAR.IND
TT_MATCH_RESPONSE_S = 0.2  # CM_ATTEN_CHAR.IND → CM_ATTEN_CHAR.RSP
C_EV_MATCH_RETRY = 2  # resends of CM_ATTEN_CHAR.IND
TT_EVSE_MATCH_SESSION_S = 10.0  # CM_ATTEN_CHAR.RSP → CM_SLAC_MATCH.REQ
C_EV_MATCH_MNBC = 10  # sounds we ask for in CM_SLAC_PARAM.CNF
#: HomePlug GP carrier groups in an attenuation profile
ATTEN_GROUPS = 58
#: NID derivation: SHA-256 applied this many times to the NMK (HomePlug AV 1.1 §13.5.x, as open-plc-utils does)
NID_HASH_ROUNDS = 5


def nid_from_nmk(nmk: bytes) -> bytes:
    """The 54-bit network id of an NMK, security level 0 in the top bits of the last byte."""
    digest = nmk
    for _ in range(NID_HASH_ROUNDS):
        digest = sha256(digest).digest()
    nid = bytearray(digest[: m.NID_LEN])
    nid[6] >>= 4
    return bytes(nid)


class SlacState(StrEnum):
    IDLE = "idle"
    WAIT_PARAM = "wait_param"
    WAIT_SOUNDS = "wait_sounds"
    WAIT_ATTEN_RSP = "wait_atten_rsp"
    WAIT_MATCH = "wait_match"
    MATCHED = "matched"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Send:
    frame: bytes


@dataclass(frozen=True, slots=True)
class Matched:
    ev_mac: bytes
    run_id: bytes
    nid: bytes
    attenuation_db: float


@dataclass(frozen=True, slots=True)
class Failed:
    reason: str


Action = Send | Matched | Failed


@dataclass
class SlacEvse:
    evse_mac: bytes
    #: our own modem's MAC (CM_SET_KEY goes there); broadcast when unknown
    modem_mac: bytes = m.BROADCAST
    nmk: bytes = field(default_factory=lambda: os.urandom(m.NMK_LEN))
    evse_id: bytes = bytes(m.ID_LEN)
    num_sounds: int = C_EV_MATCH_MNBC
    state: SlacState = SlacState.IDLE
    deadline_s: float | None = None
    ev_mac: bytes = b""
    run_id: bytes = b""
    profiles: list[bytes] = field(default_factory=list)
    atten_retries: int = 0

    @property
    def nid(self) -> bytes:
        return nid_from_nmk(self.nmk)

    def _send(self, dst: bytes, message: m.SlacMessage) -> Send:
        return Send(m.encode(dst, self.evse_mac, message))

    def _fail(self, reason: str) -> list[Action]:
        self.state, self.deadline_s = SlacState.FAILED, None
        return [Failed(reason)]

    def start(self, now_s: float) -> list[Action]:
        """5 % PWM is on: key our modem and wait for the EV's CM_SLAC_PARAM.REQ."""
        self.state, self.deadline_s = SlacState.WAIT_PARAM, now_s + TT_EVSE_SLAC_INIT_S
        self.profiles, self.atten_retries, self.ev_mac, self.run_id = [], 0, b"", b""
        return [self._send(self.modem_mac, m.SetKeyReq(self.nid, self.nmk))]

    def tick(self, now_s: float) -> list[Action]:
        if self.deadline_s is None or now_s < self.deadline_s:
            return []
        if self.state is SlacState.WAIT_PARAM:
            return self._fail(f"no CM_SLAC_PARAM.REQ within {TT_EVSE_SLAC_INIT_S:g} s of 5 % PWM")
        if self.state is SlacState.WAIT_SOUNDS:
            return self._characterize(now_s)
        if self.state is SlacState.WAIT_ATTEN_RSP:
            if self.atten_retries >= C_EV_MATCH_RETRY:
                return self._fail("no CM_ATTEN_CHAR.RSP from the EV")
            self.atten_retries += 1
            self.deadline_s = now_s + TT_MATCH_RESPONSE_S
            return [self._atten_char()]
        if self.state is SlacState.WAIT_MATCH:
            return self._fail(f"no CM_SLAC_MATCH.REQ within {TT_EVSE_MATCH_SESSION_S:g} s")
        return []

    def feed(self, frame: bytes, now_s: float) -> list[Action]:
        try:
            decoded = m.decode(frame)
        except m.SlacDecodeError:
            return []  # a malformed frame from the line is noise, not a reason to fail the session
        if decoded is None or decoded.src == self.evse_mac:
            return []
        message, src = decoded.message, decoded.src
        if isinstance(message, m.SlacParamReq) and self.state in (SlacState.WAIT_PARAM, SlacState.WAIT_SOUNDS):
            # a repeated PARAM.REQ (the EV missed our CNF) restarts the run
            self.ev_mac, self.run_id, self.profiles = src, message.run_id, []
            self.state, self.deadline_s = SlacState.WAIT_SOUNDS, now_s + TT_EVSE_SLAC_INIT_S
            cnf = m.SlacParamCnf(
                forwarding_sta=src,
                run_id=message.run_id,
                num_sounds=self.num_sounds,
                time_out_100ms=round(TT_EVSE_MATCH_MNBC_S * 10),
            )
            return [self._send(src, cnf)]
        if self.state is SlacState.WAIT_SOUNDS:
            if isinstance(message, m.StartAttenCharInd) and message.run_id == self.run_id:
                self.deadline_s = min(self.deadline_s or now_s, now_s + TT_EVSE_MATCH_MNBC_S)
            elif isinstance(message, m.AttenProfileInd) and message.pev_mac == self.ev_mac:
                self.profiles.append(message.groups)
                if len(self.profiles) >= self.num_sounds:
                    return self._characterize(now_s)
            return []
        if (
            self.state is SlacState.WAIT_ATTEN_RSP
            and isinstance(message, m.AttenCharRsp)
            and src == self.ev_mac
            and message.run_id == self.run_id
        ):
            if message.result != 0:
                return self._fail(f"EV refused the attenuation characterization (result {message.result})")
            self.state, self.deadline_s = SlacState.WAIT_MATCH, now_s + TT_EVSE_MATCH_SESSION_S
            return []
        if (
            self.state in (SlacState.WAIT_MATCH, SlacState.WAIT_ATTEN_RSP)
            and isinstance(message, m.SlacMatchReq)
            and src == self.ev_mac
            and message.run_id == self.run_id
        ):
            self.state, self.deadline_s = SlacState.MATCHED, None
            match_cnf = m.SlacMatchCnf(
                pev_mac=src,
                evse_mac=self.evse_mac,
                run_id=self.run_id,
                nid=self.nid,
                nmk=self.nmk,
                pev_id=message.pev_id,
                evse_id=self.evse_id,
            )
            return [self._send(src, match_cnf), Matched(src, self.run_id, self.nid, self.attenuation_db())]
        return []

    def attenuation_db(self) -> float:
        if not self.profiles:
            return float("nan")
        return sum(sum(p) / max(1, len(p)) for p in self.profiles) / len(self.profiles)

    def _average_groups(self) -> bytes:
        if not self.profiles:
            return bytes(ATTEN_GROUPS)
        width = min(len(p) for p in self.profiles)
        return bytes(round(sum(p[i] for p in self.profiles) / len(self.profiles)) for i in range(width))

    def _atten_char(self) -> Send:
        ind = m.AttenCharInd(
            source_address=self.ev_mac, run_id=self.run_id, num_sounds=len(self.profiles), groups=self._average_groups()
        )
        return self._send(self.ev_mac, ind)

    def _characterize(self, now_s: float) -> list[Action]:
        if not self.profiles:
            return self._fail("no sounds (CM_ATTEN_PROFILE.IND) received from the EV")
        self.state, self.deadline_s = SlacState.WAIT_ATTEN_RSP, now_s + TT_MATCH_RESPONSE_S
        return [self._atten_char()]
