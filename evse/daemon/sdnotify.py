"""A minimal sd_notify client: systemd's readiness/watchdog protocol over an AF_UNIX datagram socket.

The protocol (sd_notify(3)): newline-separated `KEY=VALUE` assignments in one datagram sent to the socket named
by `$NOTIFY_SOCKET`; a name starting with `@` is in the abstract namespace (leading NUL byte). `$WATCHDOG_USEC`
(and `$WATCHDOG_PID`, when set, naming us) asks for `WATCHDOG=1` more often than that period.
Without `$NOTIFY_SOCKET` (not run by systemd) every call is a no-op.

Where there is no systemd (a container), `$EVSE_HEALTH_FILE` names a file whose modification time each
watchdog ping refreshes; `evse health` (the Docker HEALTHCHECK) checks its age, so the container's health
follows exactly the watchdog's rule: healthy while every control loop is alive.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

#: environment variable naming the health file (see the module docstring)
HEALTH_FILE_ENV = "EVSE_HEALTH_FILE"


class Notifier:
    def __init__(self, address: str | None = None, health_file: str | None = None) -> None:
        self.address = address if address is not None else os.environ.get("NOTIFY_SOCKET", "")
        self.health_file = health_file if health_file is not None else os.environ.get(HEALTH_FILE_ENV, "")
        self._socket: socket.socket | None = None
        self._failed = False
        self.sent: list[str] = []  # what was sent (for status and tests)
        if self.address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.setblocking(False)

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def notify(self, **fields: str | int) -> bool:
        """Send `KEY=VALUE` fields in one datagram (`notify(READY=1, STATUS="…")`); False if not delivered."""
        message = "\n".join(f"{key}={_one_line(str(value))}" for key, value in fields.items())
        self.sent.append(message)
        if self._socket is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            self._socket.sendto(message.encode(), target)
        except OSError as error:  # systemd gone or socket full: never fatal, log once
            if not self._failed:
                _log().warning("sd_notify failed", address=self.address, error=str(error))
                self._failed = True
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify(READY=1, STATUS=status)

    def status(self, status: str) -> bool:
        return self.notify(STATUS=status)

    def watchdog(self) -> bool:
        if self.health_file:
            try:
                Path(self.health_file).touch()
            except OSError as error:
                _log().warning("health file not writable", path=self.health_file, error=str(error))
        return self.notify(WATCHDOG=1)

    def stopping(self, status: str = "stopping") -> bool:
        return self.notify(STOPPING=1, STATUS=status)

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_period_s(environ: dict[str, str] | None = None) -> float | None:
    """systemd's watchdog period for this process (`WatchdogSec=`), or None when no watchdog is asked for."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000


def _one_line(text: str) -> str:
    return text.replace("\n", " ")


def _log() -> Any:
    """The logger, imported when there is something to log: `evse health` and every other CLI command import this
    module (for HEALTH_FILE_ENV) and need not pay for structlog."""
    import structlog

    return structlog.get_logger("evse.daemon.sdnotify")
