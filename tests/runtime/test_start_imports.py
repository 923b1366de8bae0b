"""What the daemon's start leaves unimported (resident memory, issue 10): the station of config/sim.toml — its
configuration checked, its three connectors built, a CHAdeMO and a GB/T frame decoded and encoded — in a fresh
interpreter, then a look at sys.modules. Modules loaded only on some path must stay out of it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import asyncio, json, sys
from pathlib import Path
from evse.config.loader import load_config
from evse.session.events import EventBus
from evse.station.build import build_station
from evse.can.channel import CanFrame
from evse.protocols.chademo.codec import ChademoCodec
from evse.protocols.gbt.codec import decode, encode
from evse.protocols.gbt.ids import Pgn

async def main():
    config = load_config(Path(sys.argv[1]))
    build_station(config, bus=EventBus(), shared={})
    codec = ChademoCodec()
    codec.encode(codec.decode(CanFrame(0x102, bytes(8))))
    encode(decode(Pgn.BCL, bytes(5)))

asyncio.run(main())
print(json.dumps(sorted(sys.modules)))
"""

#: python-can and cantools: the codecs read their DBC with evse.can.dbc; python-can is for a real CAN link only
NOT_AT_START = ("cantools", "can")


def test_a_simulated_station_starts_without_cantools_or_python_can(tmp_path: Path) -> None:
    config = (REPO / "config" / "sim.toml").read_text(encoding="utf-8")
    path = tmp_path / "evse.toml"
    path.write_text(config.replace('state_dir = "./var/state"', f'state_dir = "{tmp_path}"'), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(path)], capture_output=True, text=True, timeout=60, cwd=REPO, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    modules = json.loads(result.stdout.splitlines()[-1])
    assert "evse.protocols.chademo.adapter" in modules and "evse.protocols.gbt.adapter" in modules
    loaded = [name for name in modules if name.split(".")[0] in NOT_AT_START]
    assert loaded == []
