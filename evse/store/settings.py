"""Session store (SQLite) and retention: configuration values (declared per `evse.config.meta`)."""

from __future__ import annotations

from typing import Annotated, Literal

from evse.config.meta import Settings, setting


class StoreSettings(Settings, frozen=True):
    """Session store (SQLite) and retention."""

    filename: Annotated[str, setting("Session database file name inside the state directory", "", min_length=1)] = (
        "sessions.sqlite"
    )
    #: FULL: in WAL mode every commit fsyncs the WAL, so a committed session survives power loss; NORMAL would
    #: only survive a process crash (the last commits may roll back after a power cut).
    synchronous: Annotated[
        Literal["FULL", "NORMAL"],
        setting("SQLite synchronous mode; FULL keeps every committed session across a power cut", ""),
    ] = "FULL"
    retention_days: Annotated[
        float, setting("Sessions older than this are deleted (0 = keep regardless of age)", "d", ge=0)
    ] = 365.0
    max_size_mb: Annotated[
        float, setting("The oldest sessions are deleted while the database is larger than this", "MB", gt=0)
    ] = 256.0
    retention_interval_s: Annotated[float, setting("How often retention runs while the daemon runs", "s", gt=0)] = (
        3600.0
    )
    batch_max_events: Annotated[int, setting("Events written per transaction at most", "", ge=1)] = 500
    flush_interval_s: Annotated[
        float, setting("Longest time a recorded event waits in memory before its batch is committed", "s", gt=0)
    ] = 1.0
    queue_max_events: Annotated[
        int, setting("Events the recorder holds before it drops (and counts) new ones; never blocks", "", ge=1)
    ] = 20_000
    sample_interval_s: Annotated[float, setting("Meter samples are stored at most this often", "s", gt=0)] = 1.0
    fault_trace_window_s: Annotated[
        float, setting("Trace kept before and after each fault during energy transfer", "s", ge=0)
    ] = 5.0
    max_trace_records: Annotated[
        int, setting("Trace records stored per session at most (the rest are counted, not stored)", "", ge=1)
    ] = 5_000
    busy_timeout_s: Annotated[float, setting("Wait for a locked database before failing", "s", gt=0)] = 5.0
