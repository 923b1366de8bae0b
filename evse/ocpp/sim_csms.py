"""OCPP in `evse sim`: the station's OCPP client talking to the development CSMS (`evse.ocpp.dev_csms`) served in
the simulation's own event loop, and the CSMS's readable message log shown with the simulation's notes.

Why in-process, over an in-memory link (`evse.ocpp.memory_link`) and not a socket: `evse sim --speed max` runs on
the virtual clock, where time jumps to the next timer whenever every task waits. A frame in flight through the
kernel (another process, or even a loopback socket) is invisible to the loop, so a CALL's 30 s response timeout
could expire in virtual time before the answer is read. In one loop with no I/O the OCPP exchange is exact and
the run stays reproducible for a seed. `--csms URL` connects to an external CSMS instead (scaled or real time).

The OCPP database of a simulation run is in memory: every run starts with an empty queue and no leftover
transactions, and no disk write stalls a scaled clock (`--speed N`).
"""

from __future__ import annotations

import collections
import contextlib
import json
import random
from collections.abc import Callable
from typing import Any

import msgspec

from evse.ocpp.dev_csms import DevCsms
from evse.ocpp.service import OcppService, settings_for
from evse.session.events import EventBus
from evse.station.control import StationControl

#: the URL the client "dials" over the in-memory link (only its path, the charge point id, is used)
IN_PROCESS_URL = "ws://dev-csms.in-process"
#: CSMS answers worth a line of their own (the rest are `{}` or a plain Accepted)
SHOWN_RESULTS = frozenset({"BootNotification", "StartTransaction"})
#: how long the end of a run waits for the last transaction messages to reach the CSMS (simulated seconds)
DRAIN_TIMEOUT_S = 60.0
#: a plain-output line is cut here (a MeterValues payload is long)
MAX_LINE_CHARS = 200

#: (connector id or 0, text) → shown by the view with the simulated time
Note = Callable[[int, str], None]


class SimOcpp:
    """The OCPP client of the simulated station and, unless `csms_url` is given, its in-process dev CSMS."""

    def __init__(
        self,
        config: Any,
        bus: EventBus,
        station: StationControl,
        note: Note,
        *,
        csms_url: str | None = None,
        seed: int = 0,
    ) -> None:
        self.note = note
        self.external = csms_url is not None
        self.csms: DevCsms | None = None if self.external else DevCsms(on_line=self._line)
        settings = settings_for(config)
        changes: dict[str, Any] = {"enabled": True}
        if csms_url is not None:
            changes["csms_url"] = csms_url
        else:
            changes["csms_url"] = IN_PROCESS_URL
        self.settings = msgspec.structs.replace(settings, **changes)
        self.service = OcppService(
            self.settings,
            bus,
            station,
            rng=random.Random(seed),
            open_link=self.csms.open_link if self.csms is not None else None,
            in_memory=True,
        )

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.service.drain(DRAIN_TIMEOUT_S)
        await self.service.stop()

    # ---- the readable log
    def _line(self, cp_id: str, arrow: str, text: str) -> None:
        action, _, rest = text.partition(" ")
        if arrow == "==" or action == "Heartbeat":
            return
        if rest.startswith("result "):
            if action not in SHOWN_RESULTS:
                return
            rest = rest.removeprefix("result ")
            action += " result"
        payload = _json(rest)
        body = _meter_values(payload) if action == "MeterValues" and isinstance(payload, dict) else rest
        line = f"{cp_id} {arrow} {action} {body}"
        self.note(0, line if len(line) <= MAX_LINE_CHARS else line[: MAX_LINE_CHARS - 1] + "…")

    def summary(self) -> str:
        """What the CSMS received, one line per action, and the transactions (for the end of a run)."""
        if self.csms is None:
            return f"OCPP: the client talked to {self.settings.csms_url} (see that CSMS's log)."
        received = self.csms.received
        counts = collections.Counter(action for _, action, _ in received)
        data = collections.Counter(
            str(p.get("messageId", "?")) for _, a, p in received if a == "DataTransfer" and isinstance(p, dict)
        )
        lines = ["OCPP (the development CSMS, in-process)", ""]
        for action, n in sorted(counts.items()):
            extra = f" ({', '.join(f'{k} {v}' for k, v in sorted(data.items()))})" if action == "DataTransfer" else ""
            lines.append(f"  {action:28s} {n}{extra}")
        stops = {p.get("transactionId"): p for _, a, p in received if a == "StopTransaction"}
        if self.csms.started:
            lines += ["", "| transaction | connector | id tag | meterStart | meterStop | reason |"]
            lines.append("|---|---|---|---|---|---|")
        for tx_id, start in sorted(self.csms.started.items()):
            stop = stops.get(tx_id)
            end = f"{stop.get('meterStop')} Wh | {stop.get('reason', 'Local')}" if stop else "— | (open)"
            begin = f"{start.get('connectorId')} | {start.get('idTag')} | {start.get('meterStart')} Wh"
            lines.append(f"| {tx_id} | {begin} | {end} |")
        if not received:
            lines.append("  (nothing received)")
        return "\n".join(lines)


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _meter_values(payload: dict[str, Any]) -> str:
    """A MeterValues payload in one short line: the transaction and each measurand's value with its unit."""
    parts = [f"connector {payload.get('connectorId')}"]
    if "transactionId" in payload:
        parts.append(f"transaction {payload['transactionId']}")
    values: list[str] = []
    for meter_value in payload.get("meterValue", [])[:1]:
        for sampled in meter_value.get("sampledValue", []):
            name = str(sampled.get("measurand", "Energy.Active.Import.Register"))
            values.append(f"{name} {sampled.get('value')} {sampled.get('unit', '')}".rstrip())
        context = meter_value.get("sampledValue", [{}])[0].get("context")
        if context:
            parts.append(str(context))
    return ", ".join(parts) + (": " + ", ".join(values) if values else "")
