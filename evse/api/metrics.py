"""`GET /metrics`: the station in Prometheus text format (exposition format 0.0.4).

Counters come from the event bus (sessions by outcome, stage durations, energy, faults), gauges from the
station's snapshots at scrape time (status, power, voltage, current, SOC), plus — when the daemon wiring hands
them over — the OCPP link (connected, queue depth), CAN channel error counters, and the session recorder's own
health. The text is written by hand: the format is small and this keeps a dependency off the controller.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from evse.session.events import Event, FaultRaised, SessionEnded
from evse.station.control import ConnectorStatus, StationControl

#: stage duration histogram buckets (s): handshake stages take 0.1–60 s, energy transfer up to hours
STAGE_BUCKETS_S = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0, 3600.0, 14400.0)
#: counters a CAN channel object may carry (`evse.can.pythoncan.PythonCanChannel` has them all)
CAN_COUNTERS = {
    "error_frames": "Error frames received",
    "bus_off_events": "Times the controller went bus-off",
    "frames_received": "Frames received",
    "frames_sent": "Frames sent",
    "send_failures": "Frames that could not be sent",
}


@dataclass(frozen=True, slots=True)
class OcppStatusInfo:
    connected: bool
    queue_depth: int


OcppStatusProvider = Callable[[], OcppStatusInfo]


@dataclass(frozen=True, slots=True)
class RfidStatusInfo:
    """The RFID card reader (`[rfid]`), for /metrics and /api/status."""

    driver: str
    fault: str | None
    cards_read: int
    bad_frames: int
    #: what presented cards led to: "accepted", "rejected", "stopped", "ignored" → count
    outcomes: dict[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "fault": self.fault,
            "cards_read": self.cards_read,
            "bad_frames": self.bad_frames,
            "outcomes": dict(self.outcomes),
        }


RfidStatusProvider = Callable[[], RfidStatusInfo]
#: returns the vehicle-link channels (objects with `name` and any of CAN_COUNTERS as int attributes)
CanChannelsProvider = Callable[[], Iterable[Any]]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _num(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class MetricsText:
    """Accumulates families and renders them in exposition order."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[str, dict[str, Any], float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for suffix, labels, value in samples:
            self.lines.append(f"{name}{suffix}{_labels(labels)} {_num(value)}")

    def render(self) -> str:
        return "\n".join(self.lines) + "\n"


class StationMetrics:
    """Counters fed by the event bus. `on_event` only increments numbers: it never blocks a publisher."""

    def __init__(self) -> None:
        self.sessions: dict[tuple[int, str, str, str], int] = defaultdict(int)
        self.stage_buckets: dict[str, list[int]] = {}
        self.stage_sum_s: dict[str, float] = defaultdict(float)
        self.stage_count: dict[str, int] = defaultdict(int)
        self.energy_wh: dict[int, float] = defaultdict(float)
        self.faults: dict[tuple[int, str, bool], int] = defaultdict(int)

    def on_event(self, event: Event) -> None:
        if isinstance(event, SessionEnded):
            o = event.outcome
            self.sessions[(event.connector_id, o.kind.value, o.stage.value, o.reason.value)] += 1
            self.energy_wh[event.connector_id] += event.energy_wh
            for stage, duration_s in event.stage_durations_s.items():
                key = str(getattr(stage, "value", stage))
                buckets = self.stage_buckets.setdefault(key, [0] * len(STAGE_BUCKETS_S))
                for i in range(bisect.bisect_left(STAGE_BUCKETS_S, duration_s), len(STAGE_BUCKETS_S)):
                    buckets[i] += 1
                self.stage_sum_s[key] += duration_s
                self.stage_count[key] += 1
        elif isinstance(event, FaultRaised):
            self.faults[(event.connector_id, event.code, event.tripped)] += 1

    def render(
        self,
        station: StationControl | None,
        *,
        ocpp: OcppStatusProvider | None = None,
        can_channels: CanChannelsProvider | None = None,
        rfid: RfidStatusProvider | None = None,
        extra_counters: dict[str, tuple[str, float]] | None = None,
    ) -> str:
        out = MetricsText()
        out.family(
            "evse_sessions_total",
            "counter",
            "Sessions ended, by connector and outcome (kind, stage, reason)",
            (
                ("", {"connector": c, "outcome": kind, "stage": stage, "reason": reason}, n)
                for (c, kind, stage, reason), n in sorted(self.sessions.items())
            ),
        )
        hist: list[tuple[str, dict[str, Any], float]] = []
        for stage in sorted(self.stage_buckets):
            for le, n in zip(STAGE_BUCKETS_S, self.stage_buckets[stage], strict=True):
                hist.append(("_bucket", {"stage": stage, "le": repr(float(le))}, n))
            hist.append(("_bucket", {"stage": stage, "le": "+Inf"}, self.stage_count[stage]))
            hist.append(("_sum", {"stage": stage}, self.stage_sum_s[stage]))
            hist.append(("_count", {"stage": stage}, self.stage_count[stage]))
        out.family("evse_stage_duration_seconds", "histogram", "Time spent per session stage", hist)
        out.family(
            "evse_energy_delivered_wh_total",
            "counter",
            "Energy delivered by ended sessions",
            (("", {"connector": c}, wh) for c, wh in sorted(self.energy_wh.items())),
        )
        out.family(
            "evse_faults_total",
            "counter",
            "Faults raised, by connector and code (tripped: the supervisor cut power)",
            (
                ("", {"connector": c, "code": code, "tripped": str(tripped).lower()}, n)
                for (c, code, tripped), n in sorted(self.faults.items())
            ),
        )
        if station is not None:
            self._connectors(out, station)
        if ocpp is not None:
            info = ocpp()
            out.family("evse_ocpp_connected", "gauge", "1 while the CSMS link is up", [("", {}, int(info.connected))])
            out.family(
                "evse_ocpp_queue_depth", "gauge", "OCPP messages queued for the CSMS", [("", {}, info.queue_depth)]
            )
        if can_channels is not None:
            channels = list(can_channels())
            for attr, help_text in CAN_COUNTERS.items():
                samples = [
                    ("", {"channel": str(getattr(ch, "name", "?"))}, float(getattr(ch, attr)))
                    for ch in channels
                    if isinstance(getattr(ch, attr, None), int | float)
                ]
                if samples:
                    out.family(f"evse_can_{attr}_total", "counter", help_text, samples)
        if rfid is not None:
            self._rfid(out, rfid())
        for name, (help_text, value) in sorted((extra_counters or {}).items()):
            out.family(name, "counter", help_text, [("", {}, value)])
        return out.render()

    @staticmethod
    def _rfid(out: MetricsText, info: RfidStatusInfo) -> None:
        labels = {"driver": info.driver}
        out.family(
            "evse_rfid_reader_fault",
            "gauge",
            "1 while the RFID reader is faulted",
            [("", labels, int(bool(info.fault)))],
        )
        out.family(
            "evse_rfid_cards_read_total", "counter", "Cards the RFID reader read", [("", labels, info.cards_read)]
        )
        out.family(
            "evse_rfid_bad_frames_total",
            "counter",
            "Frames from the RFID reader with a bad checksum",
            [("", labels, info.bad_frames)],
        )
        out.family(
            "evse_rfid_cards_total",
            "counter",
            "Presented cards by what they led to (accepted, rejected, stopped a session, ignored)",
            (("", {"result": result}, n) for result, n in sorted(info.outcomes.items())),
        )

    @staticmethod
    def _connectors(out: MetricsText, station: StationControl) -> None:
        snaps = []
        for connector_id in station.connector_ids():
            try:
                snaps.append(station.snapshot(connector_id))
            except Exception:  # a failing snapshot must not take /metrics down
                continue
        out.family(
            "evse_connector_status",
            "gauge",
            "1 for the connector's present status (OCPP ChargePointStatus)",
            (
                (
                    "",
                    {"connector": s.connector_id, "standard": s.standard, "status": status.value},
                    int(s.status == status),
                )
                for s in snaps
                for status in ConnectorStatus
            ),
        )
        for name, attr, help_text in (
            ("evse_connector_voltage_v", "voltage_v", "Output voltage"),
            ("evse_connector_current_a", "current_a", "Output current"),
            ("evse_connector_power_w", "power_w", "Output power"),
            ("evse_connector_current_limit_a", "current_limit_a", "Current limit in force"),
            ("evse_connector_session_energy_wh", "energy_wh", "Energy of the running session"),
        ):
            out.family(name, "gauge", help_text, (("", {"connector": s.connector_id}, getattr(s, attr)) for s in snaps))
        out.family(
            "evse_connector_soc_percent",
            "gauge",
            "Vehicle state of charge, when it reports one",
            (("", {"connector": s.connector_id}, s.soc_pct) for s in snaps if s.soc_pct is not None),
        )
