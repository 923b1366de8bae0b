"""Subprocess for the power-loss test: records sessions into DB forever, printing each session id once its
commit returned. The test kills this process with SIGKILL at a random instant."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from evse.session.events import EventBus
from evse.store.recorder import SessionRecorder
from evse.store.settings import StoreSettings
from tests.store.fleet import SessionSpec, publish_session

#: meter samples per session (1 Hz stored)
ENERGY_S = 40


async def main(path: Path, prefix: str) -> None:
    bus = EventBus()
    rec = SessionRecorder(path, StoreSettings(batch_max_events=64), bus)
    await rec.start()
    n = 0
    while True:
        sid = f"{prefix}-{n}"
        spec = SessionSpec(
            session_id=sid,
            connector_id=1,
            standard="gbt",
            t0_s=n * 1000.0,
            identity={"vin": sid},
            protocol_version="gbt-2015",
            pilot_v=4.0,
            energy_s=ENERGY_S,
        )
        publish_session(bus, spec)
        await rec.flush()
        print("COMMITTED", sid, flush=True)
        n += 1


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2]))
