"""Operations the CSMS asks for that take time (OCPP 1.6 §5): remote start, reset, unlock and triggered messages.
They run as tasks spawned by the handlers, after the answer has left."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from evse.ocpp.meter import CONTEXT_TRIGGER, meter_value, ocpp_time, sampled_values
from evse.session.stages import Reason
from evse.station.control import AuthorizationStatus

if TYPE_CHECKING:
    from evse.ocpp.client import OcppClient

log = logging.getLogger("evse.ocpp.operations")

#: how long a soft reset waits for transactions to stop before rebooting anyway
SOFT_RESET_WAIT_S = 30.0
HARD_RESET_WAIT_S = 3.0
#: pause between two attempts of an unsuccessful reset (ResetRetries)
RESET_RETRY_DELAY_S = 5.0
#: connector states from which a remote start can proceed (the vehicle may already be plugged in)
STARTABLE = frozenset({"Available", "Preparing", "Reserved"})


class Operations:
    """Mixin of OcppClient."""

    pending_profiles: dict[int, dict[str, Any]]
    #: reset attempts made / resets given up after ResetRetries (for tests and diagnostics)
    reset_attempts: int = 0
    reset_attempts_failed: int = 0

    def _o(self) -> OcppClient:
        return self  # type: ignore[return-value]

    def remote_start_target(self, connector_id: int | None) -> int | None:
        c = self._o()
        candidates = list(c.connectors) if connector_id is None else [connector_id]
        for target in candidates:
            state = c.connectors.get(target)
            if state is None or not state.available or state.tx_local is not None:
                continue
            if state.status in STARTABLE:
                return target
        return None

    async def remote_start(self, connector_id: int, id_tag: str) -> None:
        c = self._o()
        if c.keys.get_bool("AuthorizeRemoteTxRequests"):
            decision = await c.authorize(connector_id, id_tag)
            if decision.status is not AuthorizationStatus.ACCEPTED:
                log.info("remote start for %s not authorized (%s)", id_tag, decision.status)
                c.connectors[connector_id].id_tag = None
                return
        try:
            started = await c.station.remote_start(connector_id, id_tag)
        except Exception as exc:
            log.warning("remote start on connector %d failed: %s", connector_id, exc)
            started = False
        if not started:
            c.connectors[connector_id].id_tag = None
            c.pending_profiles.pop(connector_id, None)

    async def reset(self, kind: str) -> None:
        """Reset (OCPP 1.6 §5.14): stop the transactions (Soft: gracefully, waiting for the sessions), then the
        reboot hook. An unsuccessful attempt — a soft reset whose sessions did not stop in time, or a reboot hook
        that failed — is retried `ResetRetries` times; the last attempt stops the transactions itself."""
        c = self._o()
        retries = max(0, c.keys.get_int("ResetRetries"))
        log.warning("%s reset requested by the CSMS", kind)
        c.security_event("ResetOrReboot", f"{kind} reset requested by the CSMS")
        for attempt in range(retries + 1):
            if await self._reset_attempt(kind, last=attempt == retries):
                return
            if attempt < retries:
                log.warning("%s reset attempt %d unsuccessful; retrying (ResetRetries %d)", kind, attempt + 1, retries)
                await asyncio.sleep(RESET_RETRY_DELAY_S)
        log.error("%s reset failed after %d attempts", kind, retries + 1)
        self.reset_attempts_failed += 1

    async def _reset_attempt(self, kind: str, last: bool) -> bool:
        c = self._o()
        self.reset_attempts += 1
        running = [s for s in c.connectors.values() if s.tx_local is not None]
        for state in running:
            state.stop_reason = "SoftReset" if kind == "Soft" else "HardReset"
            with contextlib.suppress(Exception):
                await c.station.stop(state.connector_id, Reason.CSMS_STOP.value)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (SOFT_RESET_WAIT_S if kind == "Soft" else HARD_RESET_WAIT_S)
        while any(s.tx_local is not None for s in c.connectors.values()) and loop.time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        still_open = [s for s in c.connectors.values() if s.tx_local is not None]
        if still_open and kind == "Soft" and not last:
            return False  # the sessions did not stop gracefully: unsuccessful, try again
        for state in still_open:  # the session did not end in time: stop the transaction ourselves
            if state.tx_local is None:
                continue
            sample = state.last_sample
            meter = int(sample.energy_wh) if sample else 0
            c.queue.end(state.tx_local, meter, ocpp_time(), state.stop_reason or "HardReset", state.id_tag)
            state.tx_local = None
        if c.on_reboot is None:
            await c.supervisor.reconnect()  # no reboot hook: a new connection sends a new BootNotification
            return True
        try:
            await c.on_reboot(kind)
        except Exception as exc:
            log.warning("the reboot hook failed: %r", exc)
            return False
        return True

    async def unlock(self, connector_id: int, timeout_s: float) -> str:
        c = self._o()
        state = c.connectors.get(connector_id)
        if state is None:
            return "NotSupported"
        if state.tx_local is not None:
            state.stop_reason = "UnlockCommand"  # §5.18: stop the transaction first
            with contextlib.suppress(Exception):
                await asyncio.wait_for(c.station.stop(connector_id, Reason.CSMS_STOP.value), timeout_s)
        try:
            unlocked = await asyncio.wait_for(c.station.unlock(connector_id), timeout_s)
        except (TimeoutError, Exception):
            unlocked = False
        return "Unlocked" if unlocked else "UnlockFailed"

    async def trigger(self, message: str, connector_id: int | None) -> None:
        c = self._o()
        await asyncio.sleep(0)  # after the answer
        targets = [connector_id] if connector_id is not None else [0, *c.connectors]
        if message == "BootNotification":
            if c.online:
                c.send("BootNotification", c.boot_payload())
            else:
                c.boot_now.set()  # Pending: the boot loop sends it now
        elif message == "Heartbeat":
            c.send("Heartbeat", {})
        elif message == "StatusNotification":
            for target in targets:
                c.report_status(target, force=True)
        elif message == "MeterValues":
            for target in targets:
                state = c.connectors.get(target)
                if state is None or state.last_sample is None:
                    continue

                values = sampled_values(state.last_sample, c.keys.get_list("MeterValuesSampledData"), CONTEXT_TRIGGER)
                payload: dict[str, Any] = {"connectorId": target, "meterValue": [meter_value(ocpp_time(), values)]}
                tx_id = c.queue.csms_id(state.tx_local) if state.tx_local is not None else None
                if tx_id is not None:
                    payload["transactionId"] = tx_id
                c.send("MeterValues", payload)
        elif message == "DiagnosticsStatusNotification":
            c.send("DiagnosticsStatusNotification", {"status": c.diagnostics_status})
        elif message == "FirmwareStatusNotification":
            c.send("FirmwareStatusNotification", {"status": c.firmware_status})
        elif message == "LogStatusNotification":
            payload = {"status": c.log_status}
            if c.log_request_id is not None:
                payload["requestId"] = c.log_request_id
            c.send("LogStatusNotification", payload)
