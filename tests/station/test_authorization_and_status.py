"""Local authorization sources and the derived connector status."""

from __future__ import annotations

import pytest

from evse.session.stages import Stage
from evse.station.authorization import LocalAuthorizer
from evse.station.availability import derive_status, plugged_in
from evse.station.control import Authorization, AuthorizationStatus, ConnectorStatus
from tests.session.doubles import Rig


async def test_free_vend_accepts_everything() -> None:
    result = await LocalAuthorizer(free_vend=True).authorize(1, "ANY")
    assert (result.status, result.source) == (AuthorizationStatus.ACCEPTED, "free_vend")


async def test_allow_list_is_case_insensitive_and_rejects_others_without_a_remote() -> None:
    auth = LocalAuthorizer(allow_list=["AbC123"])
    assert (await auth.authorize(1, "abc123")).status is AuthorizationStatus.ACCEPTED
    assert (await auth.authorize(1, "zzz")).status is AuthorizationStatus.INVALID


async def test_remote_authorizer_is_asked_after_the_allow_list() -> None:
    asked: list[str] = []

    class Remote:
        async def authorize(self, connector_id: int, id_tag: str) -> Authorization:
            asked.append(id_tag)
            return Authorization(AuthorizationStatus.BLOCKED, id_tag, source="csms")

    auth = LocalAuthorizer(allow_list=["LOCAL"], remote=Remote())
    assert (await auth.authorize(1, "LOCAL")).source == "allow_list"
    assert (await auth.authorize(1, "OTHER")).status is AuthorizationStatus.BLOCKED
    assert asked == ["OTHER"]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"fault": "emergency_stop", "stage": Stage.ENERGY_TRANSFER}, ConnectorStatus.FAULTED),
        ({"available": False}, ConnectorStatus.UNAVAILABLE),
        ({"available": False, "stage": Stage.ENERGY_TRANSFER}, ConnectorStatus.CHARGING),
        ({"stage": Stage.INSULATION_TEST}, ConnectorStatus.PREPARING),
        ({"stage": Stage.ENERGY_TRANSFER, "requested_current_a": 0.0}, ConnectorStatus.SUSPENDED_EV),
        ({"stage": Stage.ENERGY_TRANSFER, "allowed_current_a": 0.0}, ConnectorStatus.SUSPENDED_EVSE),
        ({"stage": Stage.PAUSED, "vehicle_paused": True}, ConnectorStatus.SUSPENDED_EV),
        ({"stage": Stage.PAUSED, "station_paused": True}, ConnectorStatus.SUSPENDED_EVSE),
        ({"stage": Stage.STOPPING}, ConnectorStatus.FINISHING),
        ({"plugged": True, "session_over": True}, ConnectorStatus.FINISHING),
        ({"plugged": True}, ConnectorStatus.PREPARING),
        ({"reserved": True}, ConnectorStatus.RESERVED),
        ({}, ConnectorStatus.AVAILABLE),
    ],
)
def test_status_derivation(kwargs: dict[str, object], status: ConnectorStatus) -> None:
    base: dict[str, object] = {"available": True, "fault": None, "plugged": False, "stage": None, "session_over": False}
    assert derive_status(**{**base, **kwargs}) is status  # type: ignore[arg-type]


@pytest.mark.parametrize("standard", ["ccs", "chademo", "gbt"])
def test_plug_detection_per_standard(standard: str) -> None:
    rig = Rig()
    assert not plugged_in(standard, rig.roles)
    rig.plug(True)
    assert plugged_in(standard, rig.roles)
    rig.plug(False)
    assert not plugged_in(standard, rig.roles)
