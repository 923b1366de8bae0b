"""Smart charging: stacking, purposes, absolute/recurring/relative schedules, W ↔ A, and the limit in force on the
station (pure rules first, then through a real CSMS)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from evse.ocpp.smart_charging import Installed, composite_limit, composite_schedule, validate
from tests.ocpp.conftest import until
from tests.ocpp.csms import TestCsms
from tests.ocpp.station_double import StationDouble

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC).timestamp()


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).isoformat().replace("+00:00", "Z")


def profile(
    pid: int,
    purpose: str,
    stack: int,
    periods: list[tuple[int, float]],
    unit: str = "A",
    kind: str = "Absolute",
    start: float | None = T0,
    **extra: Any,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": v} for s, v in periods],
    }
    if start is not None:
        schedule["startSchedule"] = iso(start)
    schedule.update(extra.pop("schedule", {}))
    return {
        "chargingProfileId": pid,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
        **extra,
    }


def test_higher_stack_level_wins_until_its_schedule_ends() -> None:
    low = profile(1, "TxDefaultProfile", 0, [(0, 100.0)])
    high = profile(2, "TxDefaultProfile", 5, [(0, 20.0)], schedule={"duration": 600})
    installed = [Installed(1, low), Installed(1, high)]
    assert composite_limit(installed, 1, T0 + 10, None, None, "A", 400) == 20.0
    assert composite_limit(installed, 1, T0 + 700, None, None, "A", 400) == 100.0


def test_tx_profile_overrides_default_and_cp_max_caps() -> None:
    installed = [
        Installed(0, profile(1, "TxDefaultProfile", 0, [(0, 100.0)])),
        Installed(1, profile(2, "TxProfile", 0, [(0, 150.0)], transactionId=42)),
        Installed(0, profile(3, "ChargePointMaxProfile", 0, [(0, 48000.0)], unit="W")),
    ]
    # no transaction: the default on connector 0, capped by 48 kW at 400 V = 120 A
    assert composite_limit(installed, 1, T0, None, None, "A", 400) == 100.0
    # with transaction 42: its TxProfile (150 A) capped by the station max (120 A)
    assert composite_limit(installed, 1, T0, 42, T0, "A", 400) == 120.0
    # another transaction: the TxProfile does not apply
    assert composite_limit(installed, 1, T0, 43, T0, "A", 400) == 100.0
    assert composite_limit(installed, 1, T0, 42, T0, "W", 400) == 48000.0


def test_connector_default_overrides_connector_zero_default() -> None:
    installed = [
        Installed(0, profile(1, "TxDefaultProfile", 3, [(0, 100.0)])),
        Installed(1, profile(2, "TxDefaultProfile", 1, [(0, 60.0)])),
    ]
    assert composite_limit(installed, 1, T0, None, None, "A", 400) == 60.0
    assert composite_limit(installed, 2, T0, None, None, "A", 400) == 100.0


def test_recurring_daily_and_relative() -> None:
    daily = profile(
        1,
        "TxDefaultProfile",
        0,
        [(0, 10.0), (3600, 50.0)],
        kind="Recurring",
        recurrencyKind="Daily",
        start=T0 - 3 * 86400,
    )
    installed = [Installed(1, daily)]
    assert composite_limit(installed, 1, T0 + 100, None, None, "A", 400) == 10.0
    assert composite_limit(installed, 1, T0 + 4000, None, None, "A", 400) == 50.0
    assert composite_limit(installed, 1, T0 + 86400 + 100, None, None, "A", 400) == 10.0
    relative = profile(2, "TxProfile", 0, [(0, 30.0), (120, 60.0)], kind="Relative", start=None)
    installed = [Installed(1, relative)]
    tx_start = T0 + 1000
    assert composite_limit(installed, 1, tx_start + 60, 7, tx_start, "A", 400) == 30.0
    assert composite_limit(installed, 1, tx_start + 130, 7, tx_start, "A", 400) == 60.0


def test_composite_schedule_periods() -> None:
    installed = [
        Installed(0, profile(1, "ChargePointMaxProfile", 0, [(0, 80.0)])),
        Installed(1, profile(2, "TxDefaultProfile", 0, [(0, 100.0), (600, 50.0), (1200, 90.0)])),
    ]
    periods = composite_schedule(installed, 1, T0, 1800, None, None, "A", 400)
    assert periods == [
        {"startPeriod": 0, "limit": 80.0},
        {"startPeriod": 600, "limit": 50.0},
        {"startPeriod": 1200, "limit": 80.0},
    ]


def test_validation_rules() -> None:
    assert not validate(profile(1, "ChargePointMaxProfile", 0, [(0, 1.0)]), 1, 10, 24)
    assert not validate(profile(1, "TxProfile", 0, [(0, 1.0)]), 0, 10, 24)
    assert not validate(profile(1, "TxDefaultProfile", 11, [(0, 1.0)]), 1, 10, 24)
    assert not validate(profile(1, "TxDefaultProfile", 0, [(i, 1.0) for i in range(25)]), 1, 10, 24)
    assert validate(profile(1, "TxDefaultProfile", 0, [(0, 1.0)]), 1, 10, 24)


async def test_limits_reach_the_station_and_composite_over_the_wire(
    csms: TestCsms, make_service, station: StationDouble
) -> None:
    service = await make_service(csms.port)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    peer = csms.peers["CP1"]
    cp_max = profile(1, "ChargePointMaxProfile", 0, [(0, 40000.0)], unit="W", start=T0 - 86400)
    assert (await peer.request("SetChargingProfile", connector_id=0, cs_charging_profiles=cp_max)).status == "Accepted"
    default = profile(2, "TxDefaultProfile", 0, [(0, 125.0)], start=T0 - 86400)
    assert (await peer.request("SetChargingProfile", connector_id=1, cs_charging_profiles=default)).status == "Accepted"
    await until(lambda: station.limits.get(1) == (125.0, 40000.0))  # no voltage yet: W passed on as W
    station.begin(1)
    station.sample(1, 1.0, voltage_v=400.0)
    tx_profile = profile(3, "TxProfile", 1, [(0, 50.0)], start=None, kind="Relative")
    result = await peer.request("SetChargingProfile", connector_id=1, cs_charging_profiles=tx_profile)
    assert result.status == "Accepted"
    await until(lambda: station.limits.get(1) == (50.0, 40000.0))
    composite = await peer.request("GetCompositeSchedule", connector_id=1, duration=600, charging_rate_unit="A")
    assert composite.status == "Accepted"
    assert composite.charging_schedule["charging_schedule_period"][0]["limit"] == 50.0
    assert (await peer.request("ClearChargingProfile", id=3)).status == "Accepted"
    await until(lambda: station.limits.get(1) == (100.0, 40000.0))  # 40 kW at 400 V = 100 A < 125 A default
    # a TxProfile without a transaction is rejected
    station.end(1)
    await until(lambda: service.client.connectors[1].tx_local is None)
    result = await peer.request("SetChargingProfile", connector_id=1, cs_charging_profiles=tx_profile)
    assert result.status == "Rejected"


async def test_remote_start_with_a_tx_profile(csms: TestCsms, make_service, station: StationDouble) -> None:
    service = await make_service(csms.port)
    await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1)
    tx_profile = profile(7, "TxProfile", 0, [(0, 20.0)], start=None, kind="Relative")
    result = await csms.peers["CP1"].request(
        "RemoteStartTransaction", id_tag="WITHPROFILE", connector_id=1, charging_profile=tx_profile
    )
    assert result.status == "Accepted"
    await csms.wait_for("StartTransaction")
    await until(lambda: station.limits.get(1, (None, None))[0] == 20.0)
    station.end(1)
    await until(lambda: service.client.connectors[1].tx_local is None)
    await until(lambda: station.limits[1] == (None, None))  # the TxProfile ended with its transaction
    wrong = profile(8, "TxDefaultProfile", 0, [(0, 20.0)], start=None, kind="Relative")
    result = await csms.peers["CP1"].request(
        "RemoteStartTransaction", id_tag="X", connector_id=1, charging_profile=wrong
    )
    assert result.status == "Rejected"  # only a TxProfile may come with a remote start
