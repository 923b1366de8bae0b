"""The session recorder: subscribes to the EventBus and writes every session into the session database.

Theory of operation: the bus callback only appends the event to an in-memory deque (bounded; overflow is
dropped and counted — a slow flash card must never stall a session). A recorder task drains the deque, turns
events into row operations (`evse.store.writer.Op`) with a little per-session state (1 Hz sample thinning, the
handshake trace, the window around faults, peak power, SOC start/end) and hands each batch to a single writer
thread, which commits it in one transaction. A batch is committed when it is full, when `flush_interval_s` has
passed, or at once when a session ends or a fault is raised, so a finished session is durable promptly.

What is traced: every `TraceRecord` from plug-in until energy transfer starts (the handshake — where "won't
start" happens), then only a window of `fault_trace_window_s` before and after each fault and before a failed
end. Trace or pilot records that arrive on a connector before its `SessionStarted` are held and attached to the
session that follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from evse.clock import wall_time
from evse.session.events import (
    Event,
    EventBus,
    FaultRaised,
    InsulationMeasured,
    LimitChanged,
    LimitsNegotiated,
    MeterSample,
    PilotQuality,
    SessionEnded,
    SessionStarted,
    StageChanged,
    TraceRecord,
    VehicleIdentified,
)
from evse.session.stages import Stage
from evse.station.control import StationControl
from evse.store.database import connect
from evse.store.settings import StoreSettings
from evse.store.writer import Op, StoreWriter, dumps

log = structlog.get_logger("evse.store")

#: pre-session records held per connector (trace lines and pilot readings before SessionStarted)
_PRE_SESSION_MAX = 200
#: stages after which a left AUTHORIZATION stage does not mean "authorized"
_ENDING_STAGES = frozenset({Stage.STOPPING, Stage.UNLOCK, Stage.FINISHED, Stage.FAULTED, Stage.IDLE})
#: identity keys (as the adapters name them) in order of preference for the vehicle key diagnose groups by,
#: and the short prefix the key gets: GB/T BRM VIN, CCS EVCCID (or MAC), CHAdeMO signature of declared parameters
_IDENTITY_KEYS = (
    ("vin", "vin"),
    ("evcc_id", "evccid"),
    ("evccid", "evccid"),
    ("mac", "mac"),
    ("vehicle_signature", "signature"),
    ("signature", "signature"),
)


def vehicle_key(identity: dict[str, str]) -> str | None:
    """A stable key for "this vehicle" across sessions: GB/T VIN, CCS EVCCID/MAC, CHAdeMO signature."""
    for key, prefix in _IDENTITY_KEYS:
        value = identity.get(key, "").strip()
        if value:
            return f"{prefix}:{value}"
    if identity:
        return ";".join(f"{k}={v}" for k, v in sorted(identity.items()))
    return None


@dataclass(slots=True)
class _Live:
    """Per-session state while the session runs."""

    session_id: str
    connector_id: int
    start_t_s: float
    stage_seq: int = 0
    stage: Stage = Stage.IDLE
    in_handshake: bool = True
    last_sample_t_s: float | None = None
    peak_power_w: float = 0.0
    soc_start_pct: float | None = None
    soc_end_pct: float | None = None
    min_insulation_ohm: float | None = None
    traced: int = 0
    trace_dropped: int = 0
    ring: deque[TraceRecord] = field(default_factory=deque)
    record_until_t_s: float = float("-inf")


@dataclass(slots=True)
class RecorderStats:
    received: int = 0
    dropped: int = 0
    commits: int = 0
    ops_written: int = 0
    write_errors: int = 0
    sessions_recorded: int = 0


class SessionRecorder:
    """Records sessions from `bus` into `<state_dir>/<settings.filename>`. `station` (optional) tells the
    id tag a session was authorized with."""

    def __init__(
        self,
        path: Path,
        settings: StoreSettings | None = None,
        bus: EventBus | None = None,
        station: StationControl | None = None,
    ) -> None:
        self.path = path
        self.settings = settings or StoreSettings()
        self.bus = bus
        self.station = station
        self.stats = RecorderStats()
        self._events: deque[Event] = deque()
        self._id_tags: dict[str, str] = {}
        self._live: dict[str, _Live] = {}
        self._by_connector: dict[int, str] = {}
        self._pre_session: dict[int, deque[Event]] = {}
        self._executor: ThreadPoolExecutor | None = None
        self._writer: StoreWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._retention_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._urgent = False
        self._done_seq = 0
        self._taken_seq = 0
        self._flush_waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._unsubscribe: Callable[[], None] | None = None

    # ---- lifecycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evse-store")
        s = self.settings
        conn = await loop.run_in_executor(
            self._executor, lambda: connect(self.path, synchronous=s.synchronous, busy_timeout_s=s.busy_timeout_s)
        )
        self._writer = StoreWriter(conn)
        recovered = await loop.run_in_executor(self._executor, self._writer.recover_interrupted)
        if recovered:
            log.warning("closed sessions interrupted by a crash or power loss", sessions=recovered)
        await self.retain()
        if self.bus is not None:
            self._unsubscribe = self.bus.subscribe(self.on_event)
        self._task = asyncio.create_task(self._run(), name="session-recorder")
        self._retention_task = asyncio.create_task(self._retention_loop(), name="session-retention")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            await self.flush()
        for task in (self._task, self._retention_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._task = self._retention_task = None
        if self._writer is not None and self._executor is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._writer.conn.close)
        if self._executor is not None:
            self._executor.shutdown(wait=True)
        self._writer = None
        self._executor = None

    # ---- the bus side: never blocks, never raises
    def on_event(self, event: Event) -> None:
        self.stats.received += 1
        if len(self._events) >= self.settings.queue_max_events:
            self.stats.dropped += 1
            return
        if (
            isinstance(event, StageChanged)
            and event.previous is Stage.AUTHORIZATION
            and self.station is not None
            and event.session_id
        ):
            # the id tag is only knowable now, while the connector still holds it
            with contextlib.suppress(Exception):
                tag = self.station.snapshot(event.connector_id).id_tag
                if tag:
                    self._id_tags[event.session_id] = tag
        self._events.append(event)
        if isinstance(event, SessionEnded | FaultRaised):
            self._urgent = True
        self._wake.set()

    async def flush(self) -> None:
        """Return once every event received so far is committed (or dropped after a write error)."""
        target = self._taken_seq + len(self._events)
        if self._done_seq >= target or self._task is None:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._flush_waiters.append((target, fut))
        self._urgent = True
        self._wake.set()
        await fut

    async def retain(self) -> int:
        """Apply retention now; returns the number of sessions deleted."""
        if self._writer is None or self._executor is None:
            return 0
        s = self.settings
        now_epoch_s = wall_time().timestamp()
        writer = self._writer
        deleted = await asyncio.get_running_loop().run_in_executor(
            self._executor,
            lambda: writer.retain(now_epoch_s, s.retention_days * 86400.0, int(s.max_size_mb * 1024 * 1024)),
        )
        if deleted:
            log.info("retention deleted old sessions", sessions=deleted)
        return deleted

    # ---- the writer task
    async def _retention_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.retention_interval_s)
            try:
                await self.retain()
            except Exception:
                log.exception("retention failed")

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        s = self.settings
        while True:
            if not self._events:
                self._wake.clear()
                await self._wake.wait()
            deadline = loop.time() + s.flush_interval_s
            while len(self._events) < s.batch_max_events and not self._urgent:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await self._wake.wait()
            self._urgent = False
            batch = [self._events.popleft() for _ in range(min(len(self._events), s.batch_max_events))]
            self._taken_seq += len(batch)
            ops: list[Op] = []
            for event in batch:
                try:
                    self._convert(event, ops)
                except Exception:
                    log.exception("cannot record event", event=type(event).__name__)
            if ops:
                await self._write(ops)
            self._done_seq = self._taken_seq
            self._wake_flushers()
            if self._events:
                self._urgent = self._urgent or any(isinstance(e, SessionEnded | FaultRaised) for e in self._events)

    async def _write(self, ops: list[Op]) -> None:
        assert self._writer is not None and self._executor is not None
        try:
            applied = await asyncio.get_running_loop().run_in_executor(self._executor, self._writer.apply, ops)
        except Exception:
            self.stats.write_errors += 1
            log.exception("session store write failed; batch dropped", ops=len(ops))
            return
        self.stats.commits += 1
        self.stats.ops_written += applied

    def _wake_flushers(self) -> None:
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, fut in self._flush_waiters:
            if self._done_seq >= target:
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((target, fut))
        self._flush_waiters = still

    # ---- events → row operations
    def _convert(self, event: Event, ops: list[Op]) -> None:
        if isinstance(event, SessionStarted):
            self._start(event, ops)
            return
        sid = event.session_id or self._by_connector.get(event.connector_id)
        live = self._live.get(sid) if sid else None
        if live is None:
            if isinstance(event, TraceRecord | PilotQuality | InsulationMeasured):
                held = self._pre_session.setdefault(event.connector_id, deque(maxlen=_PRE_SESSION_MAX))
                held.append(event)
            return
        self._record(live, event, ops)

    def _start(self, event: SessionStarted, ops: list[Op]) -> None:
        if event.session_id is None or event.session_id in self._live:
            return
        live = _Live(event.session_id, event.connector_id, event.t_s)
        self._live[event.session_id] = live
        self._by_connector[event.connector_id] = event.session_id
        started_at = wall_time(t_s=event.t_s).timestamp()
        ops.append(("start", live.session_id, (event.connector_id, event.standard, started_at, event.t_s)))
        for held in self._pre_session.pop(event.connector_id, ()):
            self._record(live, held, ops)

    def _record(self, live: _Live, event: Event, ops: list[Op]) -> None:
        sid = live.session_id
        rel = event.t_s - live.start_t_s
        if isinstance(event, MeterSample):
            live.peak_power_w = max(live.peak_power_w, event.power_w)
            if event.soc_pct is not None:
                if live.soc_start_pct is None:
                    live.soc_start_pct = event.soc_pct
                live.soc_end_pct = event.soc_pct
            due = live.last_sample_t_s is None or rel - live.last_sample_t_s >= self.settings.sample_interval_s * 0.999
            if due:
                live.last_sample_t_s = rel
                temps = dumps(event.temperatures_c) if event.temperatures_c else None
                ops.append(
                    (
                        "sample",
                        sid,
                        (
                            rel,
                            event.voltage_v,
                            event.current_a,
                            event.power_w,
                            event.energy_wh,
                            event.soc_pct,
                            event.requested_current_a,
                            event.offered_current_a,
                            event.limit_source,
                            temps,
                        ),
                    )
                )
        elif isinstance(event, TraceRecord):
            if live.in_handshake or event.t_s <= live.record_until_t_s:
                self._trace(live, event, ops)
            else:
                live.ring.append(event)
                horizon = event.t_s - self.settings.fault_trace_window_s
                while live.ring and live.ring[0].t_s < horizon:
                    live.ring.popleft()
        elif isinstance(event, StageChanged):
            if live.stage_seq:
                ops.append(("stage_exit", sid, (live.stage_seq, rel)))
            live.stage_seq += 1
            live.stage = event.stage
            ops.append(("stage", sid, (live.stage_seq, event.stage.value, rel)))
            update: dict[str, Any] = {"last_stage": event.stage.value}
            if event.previous is Stage.AUTHORIZATION and event.stage not in _ENDING_STAGES:
                update["authorization_status"] = "accepted"
                tag = self._id_tags.pop(sid, None)
                if tag:
                    update["id_tag"] = tag
            if event.stage is Stage.ENERGY_TRANSFER:
                live.in_handshake = False
            ops.append(("set", sid, update))
        elif isinstance(event, VehicleIdentified):
            ops.append(
                (
                    "set",
                    sid,
                    {
                        "protocol_version": event.protocol_version,
                        "identity": dumps(event.identity),
                        "vehicle_key": vehicle_key(event.identity),
                    },
                )
            )
        elif isinstance(event, LimitsNegotiated):
            fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
            for base in ("connector_id", "session_id", "t_s"):
                fields.pop(base)
            ops.append(("set", sid, {"limits": dumps(fields)}))
        elif isinstance(event, LimitChanged):
            ops.append(("limit", sid, (rel, event.current_limit_a, event.power_limit_w, event.source)))
        elif isinstance(event, InsulationMeasured):
            ops.append(("insulation", sid, (rel, event.resistance_ohm, event.test_voltage_v, int(event.passed))))
            if live.min_insulation_ohm is None or event.resistance_ohm < live.min_insulation_ohm:
                live.min_insulation_ohm = event.resistance_ohm
                ops.append(("set", sid, {"insulation_ohm": event.resistance_ohm}))
        elif isinstance(event, PilotQuality):
            ops.append(("pilot", sid, (rel, event.line, event.voltage_v, event.nominal_v)))
        elif isinstance(event, FaultRaised):
            ops.append(("fault", sid, (rel, event.code, event.detail, int(event.tripped))))
            self._flush_ring(live, event.t_s, ops)
            live.record_until_t_s = max(live.record_until_t_s, event.t_s + self.settings.fault_trace_window_s)
        elif isinstance(event, SessionEnded):
            self._end(live, event, rel, ops)

    def _trace(self, live: _Live, event: TraceRecord, ops: list[Op]) -> None:
        if live.traced >= self.settings.max_trace_records:
            live.trace_dropped += 1
            return
        live.traced += 1
        ops.append(("trace", live.session_id, (event.t_s - live.start_t_s, event.direction, event.kind, event.text)))

    def _flush_ring(self, live: _Live, t_s: float, ops: list[Op]) -> None:
        horizon = t_s - self.settings.fault_trace_window_s
        while live.ring:
            record = live.ring.popleft()
            if record.t_s >= horizon:
                self._trace(live, record, ops)

    def _end(self, live: _Live, event: SessionEnded, rel: float, ops: list[Op]) -> None:
        sid = live.session_id
        if live.stage_seq:
            ops.append(("stage_exit", sid, (live.stage_seq, rel)))
        if event.outcome.failed:
            self._flush_ring(live, event.t_s, ops)
        outcome = event.outcome
        update: dict[str, Any] = {
            "ended_at": wall_time(t_s=event.t_s).timestamp(),
            "outcome_kind": outcome.kind.value,
            "outcome_stage": outcome.stage.value,
            "outcome_reason": outcome.reason.value,
            "outcome_detail": outcome.detail,
            "vehicle_reason": outcome.vehicle_reason,
            "energy_wh": event.energy_wh,
            "soc_start_pct": live.soc_start_pct,
            "soc_end_pct": live.soc_end_pct,
            "peak_power_w": live.peak_power_w,
            "stage_durations": dumps({str(k): v for k, v in event.stage_durations_s.items()}),
            "trace_dropped": live.trace_dropped,
        }
        if outcome.reason.value == "authorization_rejected":
            update["authorization_status"] = "rejected"
        ops.append(("set", sid, update))
        del self._live[sid]
        self._id_tags.pop(sid, None)
        if self._by_connector.get(live.connector_id) == sid:
            del self._by_connector[live.connector_id]
        self.stats.sessions_recorded += 1
