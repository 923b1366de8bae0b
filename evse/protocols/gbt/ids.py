"""GB/T 27930 addressing: the fixed J1939 addresses, parameter group numbers and 29-bit identifiers.

Identifiers follow J1939: `priority << 26 | PF << 16 | DA << 8 | SA` with the R and DP bits 0. Every GB/T PGN has
PF < 240 (PDU1), so the PS byte is the destination address and the PGN is `PF << 8` (GB/T 27930-2015 table of
messages; see docs/protocols/gbt.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

#: GB/T 27930 fixed addresses (no J1939 address claiming)
CHARGER_ADDRESS = 0x56
BMS_ADDRESS = 0xF4

#: J1939-21 transport: connection management and data transfer PGNs, priority 7
PGN_TP_CM = 0xEC00
PGN_TP_DT = 0xEB00
TP_PRIORITY = 7


class Pgn(IntEnum):
    """Parameter group numbers of the 22 GB/T 27930-2015 messages."""

    CRM = 0x0100
    BRM = 0x0200
    BCP = 0x0600
    CTS = 0x0700
    CML = 0x0800
    BRO = 0x0900
    CRO = 0x0A00
    BCL = 0x1000
    BCS = 0x1100
    CCS = 0x1200
    BSM = 0x1300
    BMV = 0x1500
    BMT = 0x1600
    BSP = 0x1700
    BST = 0x1900
    CST = 0x1A00
    BSD = 0x1C00
    CSD = 0x1D00
    BEM = 0x1E00
    CEM = 0x1F00
    CHM = 0x2600
    BHM = 0x2700


#: default priority per message (GB/T 27930-2015 message table)
PRIORITY: dict[Pgn, int] = {
    Pgn.CHM: 6,
    Pgn.BHM: 6,
    Pgn.CRM: 6,
    Pgn.BRM: 7,
    Pgn.BCP: 7,
    Pgn.CTS: 6,
    Pgn.CML: 6,
    Pgn.BRO: 4,
    Pgn.CRO: 4,
    Pgn.BCL: 6,
    Pgn.BCS: 7,
    Pgn.CCS: 6,
    Pgn.BSM: 6,
    Pgn.BMV: 7,
    Pgn.BMT: 7,
    Pgn.BSP: 7,
    Pgn.BST: 4,
    Pgn.CST: 4,
    Pgn.BSD: 6,
    Pgn.CSD: 6,
    Pgn.BEM: 2,
    Pgn.CEM: 2,
}

#: messages that travel via the transport protocol when longer than 8 bytes (BMS → charger)
MULTI_PACKET: frozenset[Pgn] = frozenset({Pgn.BRM, Pgn.BCP, Pgn.BCS, Pgn.BMV, Pgn.BMT, Pgn.BSP})


def frame_id(pgn: int, source: int, destination: int, priority: int | None = None) -> int:
    """The 29-bit identifier of a PDU1 parameter group from `source` to `destination`."""
    if priority is None:
        priority = PRIORITY.get(Pgn(pgn), 6) if pgn in Pgn._value2member_map_ else TP_PRIORITY
    return (priority & 0x7) << 26 | (pgn & 0x3FF00) << 8 | (destination & 0xFF) << 8 | (source & 0xFF)


@dataclass(frozen=True, slots=True)
class J1939Id:
    priority: int
    pgn: int
    destination: int
    source: int


def parse_id(arbitration_id: int) -> J1939Id:
    """Split a 29-bit identifier. For PDU1 (PF < 240) the PS byte is the destination; for PDU2 it is part of the
    PGN and the destination is global (0xFF)."""
    pf = (arbitration_id >> 16) & 0xFF
    ps = (arbitration_id >> 8) & 0xFF
    dp = (arbitration_id >> 24) & 0x3
    if pf < 240:
        return J1939Id((arbitration_id >> 26) & 0x7, dp << 16 | pf << 8, ps, arbitration_id & 0xFF)
    return J1939Id((arbitration_id >> 26) & 0x7, dp << 16 | pf << 8 | ps, 0xFF, arbitration_id & 0xFF)
