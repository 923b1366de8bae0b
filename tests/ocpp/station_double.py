"""A test double of StationControl: records the commands and plays session events on the bus on request."""

from __future__ import annotations

import asyncio
from typing import Any

from evse.session.events import (
    ConnectorStatusChanged,
    EventBus,
    FaultRaised,
    LimitsNegotiated,
    MeterSample,
    SessionEnded,
    SessionStarted,
    StageChanged,
    VehicleIdentified,
)
from evse.session.stages import Outcome, Reason, Stage
from evse.station.control import Authorization, Authorizer, ConnectorSnapshot, ConnectorStatus


class StationDouble:
    def __init__(self, bus: EventBus, connectors: int = 1) -> None:
        self.bus = bus
        self.ids = list(range(1, connectors + 1))
        self.authorizer: Authorizer | None = None
        self.commands: list[tuple[str, Any]] = []
        self.limits: dict[int, tuple[float | None, float | None]] = {}
        self.available: dict[int, bool] = dict.fromkeys(self.ids, True)
        self.sessions: dict[int, str] = {}
        self.energy_wh: dict[int, float] = dict.fromkeys(self.ids, 0.0)
        self.accept_remote_start = True
        self.stop_ends_session = True  # False: a stop request the session ignores (a wedged session)
        self.connection_timeout_s: float | None = -1.0  # what the client set (-1: never set)
        self.unlock_ok = True
        self._n = 0

    def _t(self) -> float:
        return asyncio.get_running_loop().time()

    # -- StationControl
    def connector_ids(self) -> list[int]:
        return list(self.ids)

    def snapshot(self, connector_id: int) -> ConnectorSnapshot:
        return ConnectorSnapshot(
            connector_id,
            "ccs",
            ConnectorStatus.AVAILABLE,
            "idle",
            self.sessions.get(connector_id),
            None,
            400.0,
            0.0,
            0.0,
            self.energy_wh[connector_id],
            None,
            0.0,
            "",
        )

    async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
        assert self.authorizer is not None
        return await self.authorizer.authorize(connector_id, id_tag)

    async def remote_start(self, connector_id: int, id_tag: str) -> bool:
        self.commands.append(("remote_start", (connector_id, id_tag)))
        if self.accept_remote_start:
            self.begin(connector_id)
        return self.accept_remote_start

    async def stop(self, connector_id: int, reason: str) -> bool:
        self.commands.append(("stop", (connector_id, reason)))
        if connector_id in self.sessions and self.stop_ends_session:
            self.end(connector_id, Reason(reason))
            return True
        return False

    def set_available(self, connector_id: int, available: bool) -> bool:
        self.commands.append(("set_available", (connector_id, available)))
        self.available[connector_id] = available
        return True

    def set_csms_limit(self, connector_id: int, current_a: float | None, power_w: float | None) -> None:
        self.limits[connector_id] = (current_a, power_w)

    async def unlock(self, connector_id: int) -> bool:
        self.commands.append(("unlock", connector_id))
        return self.unlock_ok

    def set_authorizer(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    # -- OcppStationControl (optional extras)
    def set_reserved(self, connector_id: int, reserved: bool) -> None:
        self.commands.append(("set_reserved", (connector_id, reserved)))

    def set_connection_timeout(self, timeout_s: float | None) -> None:
        self.connection_timeout_s = timeout_s

    # -- playing a session
    def status(self, connector_id: int, status: str, error_code: str = "NoError", info: str = "") -> None:
        self.bus.publish(
            ConnectorStatusChanged(
                connector_id=connector_id,
                session_id=None,
                t_s=self._t(),
                status=status,
                error_code=error_code,
                info=info,
            )
        )

    def begin(self, connector_id: int = 1, charge: bool = True) -> str:
        self._n += 1
        sid = f"s{self._n}"
        self.sessions[connector_id] = sid
        self.energy_wh[connector_id] = 0.0  # like the real session: energy counted from 0 per session
        t = self._t()
        self.status(connector_id, "Preparing")
        self.bus.publish(SessionStarted(connector_id=connector_id, session_id=sid, t_s=t, standard="ccs"))
        self.bus.publish(
            VehicleIdentified(
                connector_id=connector_id,
                session_id=sid,
                t_s=t,
                protocol_version="DIN70121",
                identity={"evcc_id": "0A1B2C3D4E5F"},
            )
        )
        self.bus.publish(
            LimitsNegotiated(
                connector_id=connector_id,
                session_id=sid,
                t_s=t,
                vehicle_max_voltage_v=450,
                vehicle_max_current_a=125,
                vehicle_max_power_w=50000,
                charger_max_voltage_v=500,
                charger_max_current_a=200,
                soc_pct=40,
            )
        )
        self.sample(connector_id, 0.0)
        if charge:
            self.stage(connector_id, Stage.INSULATION_TEST, Stage.PARAMETER_NEGOTIATION)
            self.stage(connector_id, Stage.ENERGY_TRANSFER, Stage.INSULATION_TEST)
            self.status(connector_id, "Charging")
        return sid

    def stage(self, connector_id: int, stage: Stage, previous: Stage) -> None:
        self.bus.publish(
            StageChanged(
                connector_id=connector_id,
                session_id=self.sessions.get(connector_id),
                t_s=self._t(),
                stage=stage,
                previous=previous,
            )
        )

    def sample(self, connector_id: int, add_wh: float, voltage_v: float = 400.0, current_a: float = 100.0) -> None:
        self.energy_wh[connector_id] += add_wh
        self.bus.publish(
            MeterSample(
                connector_id=connector_id,
                session_id=self.sessions.get(connector_id),
                t_s=self._t(),
                voltage_v=voltage_v,
                current_a=current_a,
                power_w=voltage_v * current_a,
                energy_wh=self.energy_wh[connector_id],
                soc_pct=50.0,
                offered_current_a=120.0,
                temperatures_c={"cable": 31.5, "inlet": 28.0},
            )
        )

    def fault(self, connector_id: int, code: str, detail: str) -> None:
        self.bus.publish(
            FaultRaised(
                connector_id=connector_id,
                session_id=self.sessions.get(connector_id),
                t_s=self._t(),
                code=code,
                detail=detail,
                tripped=True,
            )
        )

    def end(
        self,
        connector_id: int,
        reason: Reason = Reason.USER_STOP,
        stage: Stage = Stage.ENERGY_TRANSFER,
        detail: str = "",
    ) -> None:
        sid = self.sessions.pop(connector_id, None)
        self.bus.publish(
            SessionEnded(
                connector_id=connector_id,
                session_id=sid,
                t_s=self._t(),
                outcome=Outcome.of(stage, reason, detail),
                stage_durations_s={stage: 1.5},
                energy_wh=self.energy_wh[connector_id],
            )
        )
        self.status(connector_id, "Finishing")
        self.status(connector_id, "Available")
