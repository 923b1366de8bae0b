"""The OCPP client in its own process, for the crash test: `python -m tests.ocpp.crash_client PORT STATE_DIR MODE`.

MODE "charge": a session starts at once and meters every 50 ms until the process is killed.
MODE "idle": no session; the client only connects (and replays what it has).
"""

from __future__ import annotations

import asyncio
import sys

from evse.ocpp.service import OcppService
from evse.session.events import EventBus
from tests.ocpp.conftest import fast_settings
from tests.ocpp.station_double import StationDouble


async def main(port: int, state_dir: str, mode: str) -> None:
    bus = EventBus()
    station = StationDouble(bus)
    service = OcppService(
        fast_settings(port, meter_sample_interval_s=1),
        bus,
        station,
        state_dir=state_dir,
    )
    await service.start()
    assert service.client is not None
    service.client.keys.set("AllowOfflineTxForUnknownId", "true")
    if mode == "charge":
        await asyncio.sleep(0.05)
        station.begin(1)
        while True:
            await asyncio.sleep(0.05)
            station.sample(1, 10.0)
    else:
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
