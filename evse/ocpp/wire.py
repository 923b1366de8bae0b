"""One WebSocket connection to the CSMS, spoken through the `ocpp` package's ChargePoint: a receive loop that
survives any frame (hostile input is answered per OCPP-J §4.2 or ignored, never a crash), raw-dict CALLs with
our own unique ids, and a redacted, readable log of every frame.

The `ocpp` package's pitfalls handled here: `call()` returns None on a CALLERROR unless suppress=False (we always
raise), and `@on` handlers run inside the receive loop (the handlers in `evse.ocpp.handlers` stay short and do
follow-up work in `@after` hooks or tasks).
"""

from __future__ import annotations

import asyncio
import decimal
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

import ocpp.messages
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, MessageType, unpack, validate_payload
from ocpp.v16 import ChargePoint
from ocpp.v16.enums import Action

from evse.ocpp.transport import redact

# Validate in the event loop, not in a worker thread: payloads are small and a thread hop per message costs more
# than the validation (and keeps virtual-time runs deterministic).
ocpp.messages.ASYNC_VALIDATION = False

log = logging.getLogger("evse.ocpp.wire")


#: OCPP-J 1.6 §4.2.3 table 7 spells these differently from OCPP 2.0 (whose names the `ocpp` package also uses
#: for 1.6 schema failures): a 1.6 CALLERROR must carry the 1.6 names
_V16_ERROR_CODES = {
    "FormatViolation": "FormationViolation",
    "OccurrenceConstraintViolation": "OccurenceConstraintViolation",
    "MessageTypeNotSupported": "NotSupported",
    "RpcFrameworkError": "ProtocolError",
}


def v16_error_code(code: str) -> str:
    return _V16_ERROR_CODES.get(code, code)


def _with_v16_error_code(frame: str) -> str:
    try:
        message = json.loads(frame)
    except ValueError:
        return frame
    if isinstance(message, list) and len(message) == 5 and isinstance(message[2], str):
        fixed = v16_error_code(message[2])
        if fixed != message[2]:
            message[2] = fixed
            return json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    return frame


class Socket(Protocol):
    async def recv(self) -> str | bytes: ...
    async def send(self, message: str) -> None: ...


class CallFailed(Exception):
    """The CSMS answered a CALL with a CALLERROR."""

    def __init__(self, action: str, code: str, description: str) -> None:
        super().__init__(f"{action}: CALLERROR {code} {description}")
        self.code = code


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(str(record.msg))
        if record.args:
            record.args = tuple(redact(str(a)) for a in (record.args if isinstance(record.args, tuple) else ()))
        return True


_quiet_logger = logging.getLogger("evse.ocpp.lib")
_quiet_logger.addFilter(_RedactingFilter())


def plain(value: Any) -> Any:
    """Decimals (the ocpp package parses SetChargingProfile floats as Decimal) → float, recursively."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class WireChargePoint(ChargePoint):
    """The charge point's end of one connection."""

    def __init__(self, cp_id: str, socket: Socket, response_timeout_s: float, on_traffic: Callable[[], None]) -> None:
        super().__init__(cp_id, socket, response_timeout=response_timeout_s, logger=_quiet_logger)
        self._on_traffic = on_traffic
        self._ids = 0

    async def start(self) -> None:
        """Receive until the connection closes (ConnectionClosed propagates)."""
        while True:
            raw = await self._connection.recv()
            text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            log.info("%s ← %s", self.id, redact(text))
            try:
                await self._route(text)
            except Exception as exc:  # hostile or broken input must never end the loop
                log.warning("ignored a frame from the CSMS (%s)", exc)

    async def _route(self, text: str) -> None:
        try:
            msg = unpack(text)
        except OCPPError as exc:
            # OCPP-J §4.2.3: answer with a CALLERROR when the message id can be read, else ignore
            unique_id = _readable_id(text)
            if unique_id is not None:
                await self._send(CallError(unique_id, v16_error_code(exc.code), exc.description, {}).to_json())
            return
        if msg.message_type_id == MessageType.Call:
            if not isinstance(msg.payload, dict) or not isinstance(msg.action, str):
                await self._send(
                    CallError(msg.unique_id, "FormationViolation", "payload must be an object", {}).to_json()
                )
                return
            if msg.action not in self.route_map:
                await self._send(CallError(msg.unique_id, _unknown_action_code(msg.action), msg.action, {}).to_json())
                return
            try:
                await self._handle_call(msg)
            except OCPPError as error:
                code = v16_error_code(error.code)
                await self._send(CallError(msg.unique_id, code, error.description, error.details or {}).to_json())
        elif msg.message_type_id in (MessageType.CallResult, MessageType.CallError):
            # a response nobody waits for (unknown id, late) is dropped by the waiting call; none waiting: drop now
            if self._call_lock.locked():
                self._response_queue.put_nowait(msg)
            else:
                log.info("ignored a response with unknown id %s", msg.unique_id)

    async def _send(self, message: str) -> None:
        if message.startswith("[4"):  # a CALLERROR made by the `ocpp` package (a handler's failure): 1.6 names
            message = _with_v16_error_code(message)
        log.info("%s → %s", self.id, redact(message))
        self._on_traffic()
        await self._connection.send(message)

    async def _get_specific_response(self, unique_id: str, timeout: float) -> Any:  # noqa: ASYNC109 (its signature)
        """The response to CALL `unique_id` (others are dropped), TimeoutError after `timeout` s of loop time.

        Replaces the `ocpp` package's version, which waits with `asyncio.wait_for` — on Python 3.11 a cancellation
        racing with the answer is swallowed, leaving the calling task running after its TaskGroup was cancelled
        (a client that never stops) — and measures the remaining time on the wall clock."""
        async with asyncio.timeout(timeout):
            while True:
                response = await self._response_queue.get()
                if response.unique_id == unique_id:
                    return response
                log.info("ignored a response with unknown id %s", response.unique_id)

    async def call_raw(self, action: str, payload: dict[str, Any], unique_id: str | None = None) -> dict[str, Any]:
        """Send a CALL, return the CALLRESULT payload; raise CallFailed on a CALLERROR, TimeoutError on silence."""
        self._ids += 1
        call = Call(unique_id=unique_id or f"{self._ids}-{id(self) & 0xFFFF:x}", action=action, payload=payload)
        await validate_payload(call, self._ocpp_version)
        async with self._call_lock:
            await self._send(call.to_json())
            response = await self._get_specific_response(call.unique_id, self._response_timeout)
        if response.message_type_id == MessageType.CallError:
            raise CallFailed(action, response.error_code, response.error_description)
        response.action = action
        await validate_payload(response, self._ocpp_version)
        return plain(response.payload)


def _unknown_action_code(action: str) -> str:
    """OCPP-J 1.6 §4.2.3: NotImplemented for an action we do not know, NotSupported for a known one we do not
    handle (the `ocpp` package answers the other way round)."""
    try:
        Action(action)
    except ValueError:
        return "NotImplemented"
    return "NotSupported"


def _readable_id(text: str) -> str | None:
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(value, list) and len(value) >= 2 and value[0] == MessageType.Call and isinstance(value[1], str):
        return value[1]
    return None
