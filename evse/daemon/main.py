"""`evse run --config FILE`: load the configuration, set up logging, run the lifecycle until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import structlog

from evse import __version__, clock
from evse.config.loader import load_config
from evse.config.schema import Config
from evse.daemon import wiring
from evse.daemon.lifecycle import Lifecycle
from evse.daemon.sdnotify import Notifier, watchdog_period_s
from evse.daemon.wiring import StartError
from evse.logsetup import configure_logging, reclaim_root_logger

log = structlog.get_logger("evse.daemon")


def run_daemon(config_path: str) -> int:
    config = load_config(config_path)  # ConfigError: the CLI prints every problem and exits 78
    configure_logging(config.logging.level, config.logging.format)
    prepare_state_dir(config)
    log.info("starting", version=__version__, config=config_path, station=config.station.id)
    log.debug("configuration", config=config.redacted())
    return clock.run(lambda: serve(config))


def prepare_state_dir(config: Config) -> None:
    path = Path(config.station.state_dir)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartError(
            f"cannot create the state directory {path} ({error.strerror}) — set station.state_dir to a writable "
            "directory"
        ) from None


async def serve(config: Config) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    notifier = Notifier()
    pending_exit: list[int] = []

    def request_stop(exit_code: int) -> None:
        pending_exit.append(exit_code)
        stop.set()

    composed: wiring.Wiring | None = None
    try:
        composed = wiring.build(config, loop, request_stop)
        reclaim_root_logger()  # the station's imports (iso15118) may have configured the root logger
        lifecycle = Lifecycle(
            safe_state=composed.safe_state,
            services=composed.services,
            stop_order=composed.stop_order,
            settings=config.daemon,
            notifier=notifier,
            status=composed.status,
            watchdog_period_s=watchdog_period_s(),
        )
        code = await lifecycle.run(stop)
        if pending_exit and code == 0:
            code = pending_exit[0]
        if lifecycle.start_error is not None:
            raise StartError(lifecycle.start_error)
        return code
    finally:
        if composed is not None:
            composed.release()  # after the lifecycle's last safe state: drivers' tasks end, ports are released
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
        notifier.close()
        sys.stdout.flush()
