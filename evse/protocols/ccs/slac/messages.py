"""SLAC management messages (ISO 15118-3 Annex A; HomePlug Green PHY MMEs), encoded and decoded.

Frame layout (HomePlug AV 1.1 MME): destination MAC (6) · source MAC (6) · EtherType 0x88E1 (2, big-endian) ·
MMV (1, 0x01) · MMTYPE (2, little-endian: base | sub-type) · FMI (2, 0 = not fragmented) · payload.
Sub-types: REQ 0, CNF 1, IND 2, RSP 3. Multi-byte payload integers are little-endian.

Payloads follow ISO 15118-3 Table A.3 ff. as open-plc-utils and pyslac implement them; field sizes are checked
on decode (a short frame raises `SlacDecodeError`, never anything else).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, ClassVar

#: HomePlug AV EtherType
ETH_P_HOMEPLUG = 0x88E1
#: HomePlug AV 1.1 management message version
MMV = 0x01
BROADCAST = b"\xff" * 6
HEADER = struct.Struct("!6s6sH")  # Ethernet
MME_HEADER = struct.Struct("<BHH")  # MMV, MMTYPE, FMI

REQ, CNF, IND, RSP = 0, 1, 2, 3
# MMTYPE bases (ISO 15118-3 Table A.2 / HomePlug GP)
CM_SET_KEY = 0x6008
CM_SLAC_PARAM = 0x6064
CM_START_ATTEN_CHAR = 0x6068
CM_ATTEN_CHAR = 0x606C
CM_MNBC_SOUND = 0x6074
CM_SLAC_MATCH = 0x607C
CM_ATTEN_PROFILE = 0x6084

APPLICATION_TYPE_PEV_EVSE = 0x00
SECURITY_NONE = 0x00
#: CM_SLAC_MATCH MVFLength of the request (62) and of the confirmation (86), Table A.7/A.8
MATCH_REQ_MVF_LENGTH = 0x3E
MATCH_CNF_MVF_LENGTH = 0x56
ID_LEN = 17
RUN_ID_LEN = 8
NID_LEN = 7
NMK_LEN = 16


class SlacDecodeError(ValueError):
    """A frame that is not a well-formed SLAC message."""


@dataclass(frozen=True, slots=True)
class SlacParamReq:
    MMTYPE: ClassVar[int] = CM_SLAC_PARAM | REQ
    run_id: bytes
    application_type: int = APPLICATION_TYPE_PEV_EVSE
    security_type: int = SECURITY_NONE
    FMT: ClassVar[struct.Struct] = struct.Struct("<BB8s")

    def payload(self) -> bytes:
        return self.FMT.pack(self.application_type, self.security_type, self.run_id)

    @classmethod
    def parse(cls, data: bytes) -> SlacParamReq:
        app, sec, run_id = _unpack(cls.FMT, data)
        return cls(run_id, app, sec)


@dataclass(frozen=True, slots=True)
class SlacParamCnf:
    MMTYPE: ClassVar[int] = CM_SLAC_PARAM | CNF
    forwarding_sta: bytes
    run_id: bytes
    num_sounds: int = 10
    time_out_100ms: int = 6
    resp_type: int = 0x01
    msound_target: bytes = BROADCAST
    application_type: int = APPLICATION_TYPE_PEV_EVSE
    security_type: int = SECURITY_NONE
    FMT: ClassVar[struct.Struct] = struct.Struct("<6sBBB6sBB8s")

    def payload(self) -> bytes:
        return self.FMT.pack(
            self.msound_target,
            self.num_sounds,
            self.time_out_100ms,
            self.resp_type,
            self.forwarding_sta,
            self.application_type,
            self.security_type,
            self.run_id,
        )

    @classmethod
    def parse(cls, data: bytes) -> SlacParamCnf:
        target, sounds, timeout, resp, fwd, app, sec, run_id = _unpack(cls.FMT, data)
        return cls(fwd, run_id, sounds, timeout, resp, target, app, sec)


@dataclass(frozen=True, slots=True)
class StartAttenCharInd:
    MMTYPE: ClassVar[int] = CM_START_ATTEN_CHAR | IND
    num_sounds: int
    time_out_100ms: int
    forwarding_sta: bytes
    run_id: bytes
    resp_type: int = 0x01
    application_type: int = APPLICATION_TYPE_PEV_EVSE
    security_type: int = SECURITY_NONE
    FMT: ClassVar[struct.Struct] = struct.Struct("<BBBBB6s8s")

    def payload(self) -> bytes:
        return self.FMT.pack(
            self.application_type,
            self.security_type,
            self.num_sounds,
            self.time_out_100ms,
            self.resp_type,
            self.forwarding_sta,
            self.run_id,
        )

    @classmethod
    def parse(cls, data: bytes) -> StartAttenCharInd:
        app, sec, sounds, timeout, resp, fwd, run_id = _unpack(cls.FMT, data)
        return cls(sounds, timeout, fwd, run_id, resp, app, sec)


@dataclass(frozen=True, slots=True)
class MnbcSoundInd:
    MMTYPE: ClassVar[int] = CM_MNBC_SOUND | IND
    count: int
    run_id: bytes
    sender_id: bytes = bytes(ID_LEN)
    rnd: bytes = bytes(16)
    application_type: int = APPLICATION_TYPE_PEV_EVSE
    security_type: int = SECURITY_NONE
    FMT: ClassVar[struct.Struct] = struct.Struct("<BB17sB8s8s16s")

    def payload(self) -> bytes:
        return self.FMT.pack(
            self.application_type, self.security_type, self.sender_id, self.count, self.run_id, bytes(8), self.rnd
        )

    @classmethod
    def parse(cls, data: bytes) -> MnbcSoundInd:
        app, sec, sender, count, run_id, _rsvd, rnd = _unpack(cls.FMT, data)
        return cls(count, run_id, sender, rnd, app, sec)


@dataclass(frozen=True, slots=True)
class AttenProfileInd:
    """From the EVSE's own modem: the attenuation of one received sound, per carrier group (dB)."""

    MMTYPE: ClassVar[int] = CM_ATTEN_PROFILE | IND
    pev_mac: bytes
    groups: bytes
    FMT: ClassVar[struct.Struct] = struct.Struct("<6sBB")

    def payload(self) -> bytes:
        return self.FMT.pack(self.pev_mac, len(self.groups), 0) + self.groups

    @classmethod
    def parse(cls, data: bytes) -> AttenProfileInd:
        mac, count, _rsvd = _unpack(cls.FMT, data)
        groups = data[cls.FMT.size : cls.FMT.size + count]
        if len(groups) != count:
            raise SlacDecodeError(f"CM_ATTEN_PROFILE.IND announces {count} groups, carries {len(groups)}")
        return cls(mac, groups)


@dataclass(frozen=True, slots=True)
class AttenCharInd:
    MMTYPE: ClassVar[int] = CM_ATTEN_CHAR | IND
    source_address: bytes
    run_id: bytes
    num_sounds: int
    groups: bytes
    source_id: bytes = bytes(ID_LEN)
    resp_id: bytes = bytes(ID_LEN)
    application_type: int = APPLICATION_TYPE_PEV_EVSE
    security_type: int = SECURITY_NONE
    FMT: ClassVar[struct.Struct] = struct.Struct("<BB6s8s17s17sBB")

    def payload(self) -> bytes:
        return (
            self.FMT.pack(
                self.application_type,
                self.security_type,
                self.source_address,
                self.run_id,
                self.source_id,
                self.resp_id,
                self.num_sounds,
                len(self.groups),
            )
            + self.groups
        )

    @classmethod
    def parse(cls, data: bytes) -> AttenCharInd:
        app, sec, src, run_id, source_id, resp_id, sounds, count = _unpack(cls.FMT, data)
        groups = data[cls.FMT.size : cls.FMT.size + count]
        if len(groups) != count:
            raise SlacDecodeError(f"CM_ATTEN_CHAR.IND announces {count} groups, carries {len(groups)}")
        return cls(src, run_id, sounds, groups, source_id, resp_id, app, sec)


@dataclass(frozen=True, slots=True)
class AttenCharRsp:
    MMTYPE: ClassVar[int] = CM_ATTEN_CHAR | RSP
    source_address: bytes
    run_id: bytes
    result: int = 0
    source_id: bytes = bytes(ID_LEN)
    resp_id: bytes = bytes(ID_LEN)
    application_type: int = APPLICATION_TYPE_PEV_EVSE
    security_type: int = SECURITY_NONE
    FMT: ClassVar[struct.Struct] = struct.Struct("<BB6s8s17s17sB")

    def payload(self) -> bytes:
        return self.FMT.pack(
            self.application_type,
            self.security_type,
            self.source_address,
            self.run_id,
            self.source_id,
            self.resp_id,
            self.result,
        )

    @classmethod
    def parse(cls, data: bytes) -> AttenCharRsp:
        app, sec, src, run_id, source_id, resp_id, result = _unpack(cls.FMT, data)
        return cls(src, run_id, result, source_id, resp_id, app, sec)


@dataclass(frozen=True, slots=True)
class SlacMatchReq:
    MMTYPE: ClassVar[int] = CM_SLAC_MATCH | REQ
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    pev_id: bytes = bytes(ID_LEN)
    evse_id: bytes = bytes(ID_LEN)
    application_type: int = APPLICATION_TYPE_PEV_EVSE
    security_type: int = SECURITY_NONE
    FMT: ClassVar[struct.Struct] = struct.Struct("<BBH17s6s17s6s8s8s")

    def payload(self) -> bytes:
        return self.FMT.pack(
            self.application_type,
            self.security_type,
            MATCH_REQ_MVF_LENGTH,
            self.pev_id,
            self.pev_mac,
            self.evse_id,
            self.evse_mac,
            self.run_id,
            bytes(8),
        )

    @classmethod
    def parse(cls, data: bytes) -> SlacMatchReq:
        app, sec, _length, pev_id, pev_mac, evse_id, evse_mac, run_id, _rsvd = _unpack(cls.FMT, data)
        return cls(pev_mac, evse_mac, run_id, pev_id, evse_id, app, sec)


@dataclass(frozen=True, slots=True)
class SlacMatchCnf:
    MMTYPE: ClassVar[int] = CM_SLAC_MATCH | CNF
    pev_mac: bytes
    evse_mac: bytes
    run_id: bytes
    nid: bytes
    nmk: bytes
    pev_id: bytes = bytes(ID_LEN)
    evse_id: bytes = bytes(ID_LEN)
    application_type: int = APPLICATION_TYPE_PEV_EVSE
    security_type: int = SECURITY_NONE
    FMT: ClassVar[struct.Struct] = struct.Struct("<BBH17s6s17s6s8s8s7sB16s")

    def payload(self) -> bytes:
        return self.FMT.pack(
            self.application_type,
            self.security_type,
            MATCH_CNF_MVF_LENGTH,
            self.pev_id,
            self.pev_mac,
            self.evse_id,
            self.evse_mac,
            self.run_id,
            bytes(8),
            self.nid,
            0,
            self.nmk,
        )

    @classmethod
    def parse(cls, data: bytes) -> SlacMatchCnf:
        app, sec, _len, pev_id, pev_mac, evse_id, evse_mac, run_id, _r, nid, _r2, nmk = _unpack(cls.FMT, data)
        return cls(pev_mac, evse_mac, run_id, nid, nmk, pev_id, evse_id, app, sec)


@dataclass(frozen=True, slots=True)
class SetKeyReq:
    """To the EVSE's own modem: join/form the network with this NMK (HomePlug AV CM_SET_KEY.REQ)."""

    MMTYPE: ClassVar[int] = CM_SET_KEY | REQ
    nid: bytes
    nmk: bytes
    my_nonce: int = 0
    FMT: ClassVar[struct.Struct] = struct.Struct("<BIIBHBB7sB16s")
    KEY_TYPE_NMK: ClassVar[int] = 0x01
    PID_HLE: ClassVar[int] = 0x04  # protocol id: HLE (host-level entity) key exchange
    EKS_NMK: ClassVar[int] = 0x01

    def payload(self) -> bytes:
        return self.FMT.pack(
            self.KEY_TYPE_NMK, self.my_nonce, 0, self.PID_HLE, 0, 0, 0, self.nid, self.EKS_NMK, self.nmk
        )

    @classmethod
    def parse(cls, data: bytes) -> SetKeyReq:
        _type, nonce, _your, _pid, _prn, _pmn, _cco, nid, _eks, nmk = _unpack(cls.FMT, data)
        return cls(nid, nmk, nonce)


SlacMessage = (
    SlacParamReq
    | SlacParamCnf
    | StartAttenCharInd
    | MnbcSoundInd
    | AttenProfileInd
    | AttenCharInd
    | AttenCharRsp
    | SlacMatchReq
    | SlacMatchCnf
    | SetKeyReq
)
_BY_TYPE: dict[int, type[SlacMessage]] = {
    cls.MMTYPE: cls
    for cls in (
        SlacParamReq,
        SlacParamCnf,
        StartAttenCharInd,
        MnbcSoundInd,
        AttenProfileInd,
        AttenCharInd,
        AttenCharRsp,
        SlacMatchReq,
        SlacMatchCnf,
        SetKeyReq,
    )
}


@dataclass(frozen=True, slots=True)
class Frame:
    dst: bytes
    src: bytes
    message: SlacMessage


def _unpack(fmt: struct.Struct, data: bytes) -> tuple[Any, ...]:
    if len(data) < fmt.size:
        raise SlacDecodeError(f"payload of {len(data)} bytes, {fmt.size} needed")
    return fmt.unpack_from(data)


def encode(dst: bytes, src: bytes, message: SlacMessage) -> bytes:
    # Ethernet frames are at least 60 bytes (without FCS): pad short MMEs
    frame = HEADER.pack(dst, src, ETH_P_HOMEPLUG) + MME_HEADER.pack(MMV, message.MMTYPE, 0) + message.payload()
    return frame.ljust(60, b"\x00")


def decode(frame: bytes) -> Frame | None:
    """The SLAC message in `frame`; None for another EtherType or an MME we do not handle; SlacDecodeError for a
    malformed SLAC frame."""
    if len(frame) < HEADER.size + MME_HEADER.size:
        return None
    dst, src, ethertype = HEADER.unpack_from(frame)
    if ethertype != ETH_P_HOMEPLUG:
        return None
    mmv, mmtype, _fmi = MME_HEADER.unpack_from(frame, HEADER.size)
    cls = _BY_TYPE.get(mmtype)
    if cls is None or mmv != MMV:
        return None
    return Frame(dst, src, cls.parse(frame[HEADER.size + MME_HEADER.size :]))
