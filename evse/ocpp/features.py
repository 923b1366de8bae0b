"""Reservation (OCPP 1.6 §3.12), Smart Charging (§3.13) and availability (§5.2) as the client keeps them: state
persisted in the OCPP database, and the housekeeping loop that expires reservations and puts the composite
charging limit in force on the station (evaluated on loop time, waking at the next schedule change)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

from evse.clock import wall_time
from evse.ocpp.authorization import parse_time
from evse.ocpp.config_keys import MAX_PROFILES_INSTALLED, MAX_SCHEDULE_PERIODS, MAX_STACK_LEVEL
from evse.ocpp.smart_charging import (
    TX_PROFILE,
    Installed,
    composite_limit,
    composite_schedule,
    next_change,
    validate,
)

if TYPE_CHECKING:
    from evse.ocpp.client import OcppClient

log = logging.getLogger("evse.ocpp.features")

#: longest sleep of the housekeeping loop when nothing is scheduled
HOUSEKEEPING_MAX_S = 60.0
#: below this DC voltage a W limit cannot be turned into amperes (no voltage yet): passed on as W only
MIN_CONVERSION_VOLTAGE_V = 50.0


class Features:
    """Mixin of OcppClient."""

    def _c(self) -> OcppClient:
        return self  # type: ignore[return-value]

    def _features_init(self) -> None:
        c = self._c()
        self._replan_event = asyncio.Event()
        self.reservations: dict[int, dict[str, Any]] = {}
        for rid, connector, tag, parent, expiry in c.db.conn.execute(
            "SELECT reservation_id, connector_id, id_tag, parent_id_tag, expiry FROM reservations"
        ):
            self.reservations[rid] = {"connector": connector, "idTag": tag, "parent": parent, "expiry": expiry}
            if connector in c.connectors:
                c.connectors[connector].reservation_id = rid
                self._station_reserved(connector, True)
        self.profiles: list[Installed] = [
            Installed(connector, json.loads(text))
            for connector, text in c.db.conn.execute("SELECT connector_id, profile FROM charging_profiles")
        ]
        self._limits_in_force: dict[int, tuple[float | None, float | None]] = {}
        for connector_id, available in (c.db.get_state("availability", {}) or {}).items():
            if int(connector_id) in c.connectors:
                c.connectors[int(connector_id)].available = bool(available)

    def replan(self) -> None:
        self._replan_event.set()

    # -- availability
    def change_availability(self, connector_id: int, operative: bool) -> str:
        c = self._c()
        targets = list(c.connectors) if connector_id == 0 else [connector_id]
        if any(t not in c.connectors for t in targets):
            return "Rejected"
        scheduled = False
        for target in targets:
            state = c.connectors[target]
            if state.tx_local is not None:
                state.scheduled_available = operative  # §5.2: in force when the transaction ends
                scheduled = True
            else:
                self.apply_availability(target, operative)
        return "Scheduled" if scheduled else "Accepted"

    def apply_availability(self, connector_id: int, operative: bool) -> None:
        c = self._c()
        state = c.connectors[connector_id]
        state.available = operative
        with contextlib.suppress(Exception):
            c.station.set_available(connector_id, operative)
        stored = c.db.get_state("availability", {}) or {}
        stored[str(connector_id)] = operative
        c.db.set_state("availability", stored)
        c.report_status(connector_id)

    # -- reservations
    def reserve(self, connector_id: int, expiry: str, id_tag: str, reservation_id: int, parent: str | None) -> str:
        c = self._c()
        if connector_id == 0 or connector_id not in c.connectors:
            return "Rejected"  # ReserveConnectorZeroSupported is false
        state = c.connectors[connector_id]
        existing = self.reservations.get(reservation_id)
        if state.status == "Faulted":
            return "Faulted"
        if not state.available:
            return "Unavailable"
        if state.reservation_id not in (None, reservation_id) or state.tx_local is not None:
            return "Occupied"
        if state.status not in ("Available", "Reserved") and existing is None:
            return "Occupied"
        if existing is not None and existing["connector"] != connector_id:
            self._drop_reservation(reservation_id)
        self.reservations[reservation_id] = {
            "connector": connector_id,
            "idTag": id_tag,
            "parent": parent,
            "expiry": expiry,
        }
        c.db.conn.execute(
            "INSERT OR REPLACE INTO reservations(reservation_id, connector_id, id_tag, parent_id_tag, expiry)"
            " VALUES (?, ?, ?, ?, ?)",
            (reservation_id, connector_id, id_tag, parent, expiry),
        )
        state.reservation_id = reservation_id
        self._station_reserved(connector_id, True)
        c.report_status(connector_id)
        self.replan()
        return "Accepted"

    def _station_reserved(self, connector_id: int, reserved: bool) -> None:
        """The station shows the reservation too (its status feeds the API and the HMI), when it can."""
        setter = getattr(self._c().station, "set_reserved", None)
        if setter is not None:
            try:
                setter(connector_id, reserved)
            except Exception as exc:  # the reservation stands in OCPP even if the station cannot show it
                log.warning("station could not show the reservation of connector %d: %s", connector_id, exc)

    def _drop_reservation(self, reservation_id: int) -> None:
        c = self._c()
        entry = self.reservations.pop(reservation_id, None)
        c.db.conn.execute("DELETE FROM reservations WHERE reservation_id = ?", (reservation_id,))
        if entry is not None and entry["connector"] in c.connectors:
            state = c.connectors[entry["connector"]]
            if state.reservation_id == reservation_id:
                state.reservation_id = None
                self._station_reserved(entry["connector"], False)
                c.report_status(entry["connector"])

    def cancel_reservation(self, reservation_id: int) -> str:
        if reservation_id not in self.reservations:
            return "Rejected"
        self._drop_reservation(reservation_id)
        return "Accepted"

    def reserved_for(self, connector_id: int) -> set[str] | None:
        state = self._c().connectors.get(connector_id)
        if state is None or state.reservation_id is None:
            return None
        entry = self.reservations.get(state.reservation_id)
        if entry is None:
            return None
        return {t for t in (entry["idTag"], entry["parent"]) if t}

    def reservations_used(self, connector_id: int) -> None:
        """The reserved id tag started its transaction: the reservation ends (§3.12)."""
        state = self._c().connectors[connector_id]
        if state.reservation_id is not None:
            rid = state.reservation_id
            self._drop_reservation(rid)
            state.reservation_id = None

    def _expire_reservations(self, now_epoch: float) -> float | None:
        soonest: float | None = None
        for rid, entry in list(self.reservations.items()):
            when = parse_time(entry["expiry"])
            expiry = when.timestamp() if when else now_epoch
            if expiry <= now_epoch:
                log.info("reservation %d expired", rid)
                self._drop_reservation(rid)
            else:
                soonest = expiry if soonest is None else min(soonest, expiry)
        return soonest

    # -- smart charging
    def set_profile(self, connector_id: int, profile: dict[str, Any]) -> str:
        c = self._c()
        if connector_id != 0 and connector_id not in c.connectors:
            return "Rejected"
        if not validate(profile, connector_id, MAX_STACK_LEVEL, MAX_SCHEDULE_PERIODS):
            return "Rejected"
        schedule = profile["chargingSchedule"]
        if profile.get("chargingProfileKind") == "Absolute" and "startSchedule" not in schedule:
            schedule["startSchedule"] = wall_time().isoformat().replace("+00:00", "Z")  # starts on receipt
        if profile["chargingProfilePurpose"] == TX_PROFILE:
            state = c.connectors[connector_id]
            if state.tx_local is None:
                return "Rejected"  # §3.13.1: a TxProfile needs a transaction
            tx_id = c.queue.csms_id(state.tx_local)
            if "transactionId" in profile and profile["transactionId"] != tx_id:
                return "Rejected"
        keep = [
            i
            for i in self.profiles
            if i.profile["chargingProfileId"] != profile["chargingProfileId"]
            and not (
                i.connector_id == connector_id
                and i.profile["stackLevel"] == profile["stackLevel"]
                and i.profile["chargingProfilePurpose"] == profile["chargingProfilePurpose"]
            )
        ]
        if len(keep) >= MAX_PROFILES_INSTALLED:
            return "Rejected"
        self.profiles = [*keep, Installed(connector_id, profile)]
        self._store_profiles()
        self.replan()
        return "Accepted"

    def _store_profiles(self) -> None:
        with self._c().db.transaction() as conn:
            conn.execute("DELETE FROM charging_profiles")
            conn.executemany(
                "INSERT INTO charging_profiles(profile_id, connector_id, profile) VALUES (?, ?, ?)",
                [(i.profile["chargingProfileId"], i.connector_id, json.dumps(i.profile)) for i in self.profiles],
            )

    def clear_profiles(
        self, profile_id: int | None, connector_id: int | None, purpose: str | None, stack_level: int | None
    ) -> str:
        def matches(i: Installed) -> bool:
            if profile_id is not None:
                return bool(i.profile["chargingProfileId"] == profile_id)
            return (
                (connector_id is None or i.connector_id == connector_id)
                and (purpose is None or i.profile["chargingProfilePurpose"] == purpose)
                and (stack_level is None or i.profile["stackLevel"] == stack_level)
            )

        keep = [i for i in self.profiles if not matches(i)]
        if len(keep) == len(self.profiles):
            return "Unknown"
        self.profiles = keep
        self._store_profiles()
        self.replan()
        return "Accepted"

    def _tx_context(self, connector_id: int) -> tuple[int | None, float | None, float]:
        c = self._c()
        state = c.connectors.get(connector_id)
        if state is None:
            return None, None, 0.0
        tx_id = c.queue.csms_id(state.tx_local) if state.tx_local is not None else None
        if state.tx_local is not None and tx_id is None:
            tx_id = -state.tx_local  # started offline: its TxProfile cannot name it yet
        voltage = state.last_sample.voltage_v if state.last_sample else 0.0
        return tx_id, state.tx_start_epoch_s, voltage

    def composite(self, connector_id: int, duration_s: int, unit: str | None) -> dict[str, Any]:
        c = self._c()
        if connector_id != 0 and connector_id not in c.connectors:
            return {"status": "Rejected"}
        tx_id, tx_start, voltage = self._tx_context(connector_id)
        rate_unit = unit or (
            "W" if any(i.profile["chargingSchedule"]["chargingRateUnit"] == "W" for i in self.profiles) else "A"
        )
        start = wall_time().timestamp()
        periods = composite_schedule(
            self.profiles, connector_id, start, duration_s, tx_id, tx_start, rate_unit, voltage
        )
        start_text = wall_time().isoformat(timespec="seconds").replace("+00:00", "Z")
        response: dict[str, Any] = {"status": "Accepted", "connectorId": connector_id, "scheduleStart": start_text}
        if periods:
            response["chargingSchedule"] = {
                "duration": duration_s,
                "startSchedule": start_text,
                "chargingRateUnit": rate_unit,
                "chargingSchedulePeriod": periods,
            }
        return response

    def apply_limits(self, now_epoch: float) -> float | None:
        """Put the composite limit in force on every connector; return the epoch of the next change."""
        c = self._c()
        soonest: float | None = None
        for connector_id in c.connectors:
            tx_id, tx_start, voltage = self._tx_context(connector_id)
            # DC: a W limit becomes A at the present voltage; before there is a voltage it is passed on in W
            usable_v = voltage if voltage >= MIN_CONVERSION_VOLTAGE_V else 0.0
            amps = composite_limit(self.profiles, connector_id, now_epoch, tx_id, tx_start, "A", usable_v)
            watts = composite_limit(self.profiles, connector_id, now_epoch, tx_id, tx_start, "W", 0.0)
            limit = (None if amps is None else round(amps, 2), None if watts is None else round(watts, 1))
            if self._limits_in_force.get(connector_id) != limit:
                self._limits_in_force[connector_id] = limit
                with contextlib.suppress(Exception):
                    c.station.set_csms_limit(connector_id, limit[0], limit[1])
            change = next_change(self.profiles, now_epoch, 2 * HOUSEKEEPING_MAX_S, tx_start)
            if change is not None:
                soonest = change if soonest is None else min(soonest, change)
        return soonest

    def limit_in_force(self, connector_id: int) -> tuple[float | None, float | None]:
        return self._limits_in_force.get(connector_id, (None, None))

    async def _housekeeping_loop(self) -> None:
        while True:
            self._c().housekeeping_s = asyncio.get_running_loop().time()
            now = wall_time().timestamp()
            wakes = [w for w in (self._expire_reservations(now), self.apply_limits(now)) if w is not None]
            # a W limit converted to A follows the voltage: re-evaluate while charging
            charging = any(s.tx_local is not None for s in self._c().connectors.values())
            sleep_s = min(
                [HOUSEKEEPING_MAX_S, *(w - now for w in wakes), *([5.0] if charging and self.profiles else [])]
            )
            self._replan_event.clear()
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation racing with its timeout
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.01, sleep_s)):
                    await self._replan_event.wait()
