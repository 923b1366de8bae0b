"""Smart charging (OCPP 1.6 §3.13): charging profiles, their stacking and the composite schedule.

Pure functions over profile dicts (the wire form, camelCase) and calendar times in epoch seconds, so the rules
are testable without a connection. The rules (§3.13.2 – §3.13.4):
- within one purpose, the valid profile with the highest stackLevel that has a period in force decides;
- a TxProfile (for the running transaction) overrides TxDefaultProfile; a TxDefaultProfile on the connector
  overrides one on connector 0;
- ChargePointMaxProfile (connector 0) caps the result: the composite is the minimum of the two;
- Absolute schedules start at startSchedule, Recurring ones at startSchedule + k × (1 day | 1 week), Relative ones
  at the transaction start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evse.ocpp.authorization import parse_time

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
TX_PROFILE = "TxProfile"
TX_DEFAULT = "TxDefaultProfile"
CP_MAX = "ChargePointMaxProfile"


@dataclass(frozen=True, slots=True)
class Limit:
    value: float
    unit: str  # "A" | "W"

    def to(self, unit: str, voltage_v: float) -> float | None:
        if unit == self.unit:
            return self.value
        if voltage_v <= 0:
            return None
        return self.value * voltage_v if unit == "W" else self.value / voltage_v


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    when = parse_time(text)
    return None if when is None else when.timestamp()


def schedule_start(profile: dict[str, Any], t: float, tx_start: float | None) -> float | None:
    """The start of the schedule occurrence in force at `t` (None: not applicable)."""
    schedule = profile["chargingSchedule"]
    kind = profile.get("chargingProfileKind", "Absolute")
    start = _epoch(schedule.get("startSchedule"))
    if kind == "Relative":
        return tx_start if tx_start is not None else t
    if kind == "Recurring":
        if start is None:
            return None
        period = WEEK_S if profile.get("recurrencyKind") == "Weekly" else DAY_S
        if t < start:
            return None
        return start + ((t - start) // period) * period
    return start if start is not None else _epoch(profile.get("validFrom"))


def profile_limit(profile: dict[str, Any], t: float, tx_start: float | None) -> Limit | None:
    valid_from, valid_to = _epoch(profile.get("validFrom")), _epoch(profile.get("validTo"))
    if (valid_from is not None and t < valid_from) or (valid_to is not None and t >= valid_to):
        return None
    start = schedule_start(profile, t, tx_start)
    if start is None or t < start:
        return None
    schedule = profile["chargingSchedule"]
    elapsed = t - start
    duration = schedule.get("duration")
    if duration is not None and elapsed >= duration:
        return None
    limit: float | None = None
    for period in sorted(schedule["chargingSchedulePeriod"], key=lambda p: p["startPeriod"]):
        if period["startPeriod"] <= elapsed:
            limit = float(period["limit"])
    if limit is None:
        return None
    return Limit(limit, "W" if schedule["chargingRateUnit"] == "W" else "A")


def _stack_limit(profiles: list[dict[str, Any]], t: float, tx_start: float | None) -> Limit | None:
    for profile in sorted(profiles, key=lambda p: -p["stackLevel"]):
        limit = profile_limit(profile, t, tx_start)
        if limit is not None:
            return limit
    return None


@dataclass(frozen=True, slots=True)
class Installed:
    connector_id: int
    profile: dict[str, Any]


def composite_limit(
    installed: list[Installed],
    connector_id: int,
    t: float,
    tx_id: int | None,
    tx_start: float | None,
    unit: str,
    voltage_v: float,
) -> float | None:
    """The limit in force on `connector_id` at `t` in `unit` (None: unlimited or not convertible)."""

    def of(purpose: str, connector: int) -> list[dict[str, Any]]:
        return [
            i.profile
            for i in installed
            if i.connector_id == connector and i.profile["chargingProfilePurpose"] == purpose
        ]

    tx_limit: Limit | None = None
    if tx_id is not None:
        tx_profiles = [p for p in of(TX_PROFILE, connector_id) if p.get("transactionId") in (None, tx_id)]
        tx_limit = _stack_limit(tx_profiles, t, tx_start)
    if tx_limit is None:
        tx_limit = _stack_limit(of(TX_DEFAULT, connector_id), t, tx_start) or _stack_limit(
            of(TX_DEFAULT, 0), t, tx_start
        )
    cp_limit = _stack_limit(of(CP_MAX, 0), t, tx_start)
    values = [v for v in (lim.to(unit, voltage_v) for lim in (tx_limit, cp_limit) if lim is not None) if v is not None]
    return min(values) if values else None


def breakpoints(installed: list[Installed], start: float, end: float, tx_start: float | None) -> list[float]:
    """Every instant in [start, end) where some profile's limit may change."""
    points = {start}
    for item in installed:
        profile = item.profile
        schedule = profile["chargingSchedule"]
        for edge in (_epoch(profile.get("validFrom")), _epoch(profile.get("validTo"))):
            if edge is not None:
                points.add(edge)
        kind = profile.get("chargingProfileKind", "Absolute")
        occurrence = schedule_start(profile, start, tx_start)
        if occurrence is None:
            occurrence = _epoch(schedule.get("startSchedule"))
        if occurrence is None:
            continue
        step = (WEEK_S if profile.get("recurrencyKind") == "Weekly" else DAY_S) if kind == "Recurring" else None
        while occurrence < end:
            for period in schedule["chargingSchedulePeriod"]:
                points.add(occurrence + period["startPeriod"])
            if schedule.get("duration") is not None:
                points.add(occurrence + schedule["duration"])
            if step is None:
                break
            occurrence += step
    return sorted(p for p in points if start <= p < end)


def composite_schedule(
    installed: list[Installed],
    connector_id: int,
    start: float,
    duration_s: int,
    tx_id: int | None,
    tx_start: float | None,
    unit: str,
    voltage_v: float,
) -> list[dict[str, Any]]:
    """chargingSchedulePeriod entries of the composite schedule from `start` for `duration_s` (§6.22)."""
    periods: list[dict[str, Any]] = []
    for t in breakpoints(installed, start, start + duration_s, tx_start):
        limit = composite_limit(installed, connector_id, t, tx_id, tx_start, unit, voltage_v)
        if limit is None:
            continue
        limit = round(limit, 1)
        if periods and periods[-1]["limit"] == limit:
            continue
        periods.append({"startPeriod": int(t - start), "limit": limit})
    return periods


def next_change(installed: list[Installed], t: float, horizon_s: float, tx_start: float | None) -> float | None:
    later = [p for p in breakpoints(installed, t, t + horizon_s, tx_start) if p > t]
    return later[0] if later else None


def validate(profile: dict[str, Any], connector_id: int, max_stack_level: int, max_periods: int) -> bool:
    """The checks of §5.16 a charge point applies before accepting a profile."""
    purpose = profile["chargingProfilePurpose"]
    if purpose == CP_MAX and connector_id != 0:
        return False
    if purpose == TX_PROFILE and connector_id == 0:
        return False
    if profile["stackLevel"] > max_stack_level:
        return False
    schedule = profile["chargingSchedule"]
    if len(schedule["chargingSchedulePeriod"]) > max_periods:
        return False
    kind = profile.get("chargingProfileKind")
    return not (kind == "Recurring" and ("recurrencyKind" not in profile or "startSchedule" not in schedule))
