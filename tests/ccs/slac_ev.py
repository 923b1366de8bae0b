"""A minimal EV side of SLAC for the tests: it runs the vehicle's half of ISO 15118-3 over a raw socket in the
vehicle's network namespace, and plays the EVSE modem's part too (CM_ATTEN_PROFILE.IND for each sound), since
a veth pair has no modem."""

from __future__ import annotations

import asyncio
import os
import socket

from evse.protocols.ccs.netns import inside
from evse.protocols.ccs.slac import messages as m

SOUNDS = 10


async def _recv(sock: socket.socket, want: type, timeout_s: float = 2.0) -> tuple[m.Frame, m.SlacMessage]:
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout_s):
        while True:
            data = await loop.sock_recv(sock, 1518)
            frame = m.decode(data)
            if frame is not None and isinstance(frame.message, want):
                return frame, frame.message


async def ev_slac(namespace: str, iface: str, *, answer_atten: bool = True) -> tuple[bytes, bytes]:
    """Run the EV side; returns (NMK, NID) from CM_SLAC_MATCH.CNF."""
    with inside(namespace):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(m.ETH_P_HOMEPLUG))
        sock.bind((iface, m.ETH_P_HOMEPLUG))
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    mac = bytes(sock.getsockname()[4][:6])
    run_id = os.urandom(8)
    try:
        await loop.sock_sendall(sock, m.encode(m.BROADCAST, mac, m.SlacParamReq(run_id)))
        frame, cnf = await _recv(sock, m.SlacParamCnf)
        assert isinstance(cnf, m.SlacParamCnf) and cnf.run_id == run_id
        evse_mac = frame.src
        for _ in range(3):
            start = m.StartAttenCharInd(cnf.num_sounds, cnf.time_out_100ms, mac, run_id)
            await loop.sock_sendall(sock, m.encode(m.BROADCAST, mac, start))
        for count in range(cnf.num_sounds, 0, -1):
            await loop.sock_sendall(sock, m.encode(m.BROADCAST, mac, m.MnbcSoundInd(count - 1, run_id)))
            # the EVSE's modem would report the attenuation it measured on this sound
            profile = m.AttenProfileInd(mac, bytes([20 + count % 3] * 58))
            await loop.sock_sendall(sock, m.encode(evse_mac, mac, profile))
        _frame, ind = await _recv(sock, m.AttenCharInd)
        assert isinstance(ind, m.AttenCharInd) and ind.run_id == run_id and len(ind.groups) == 58
        if not answer_atten:
            await asyncio.sleep(3600)
        await loop.sock_sendall(sock, m.encode(evse_mac, mac, m.AttenCharRsp(mac, run_id)))
        await loop.sock_sendall(sock, m.encode(evse_mac, mac, m.SlacMatchReq(mac, evse_mac, run_id)))
        _frame, match = await _recv(sock, m.SlacMatchCnf)
        assert isinstance(match, m.SlacMatchCnf) and match.run_id == run_id and match.pev_mac == mac
        return match.nmk, match.nid
    finally:
        sock.close()
