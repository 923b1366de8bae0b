"""Exceptions a protocol adapter raises out of a stage step to end the session.

An adapter never decides the outcome's stage: the session records the stage it was in when the exception came
out. The adapter only says *why* (a `Reason`) and gives the evidence (`detail`, `vehicle_reason`).
"""

from __future__ import annotations

from evse.session.stages import Reason


class SessionEnd(Exception):
    """Base: the session must end with `reason`."""

    def __init__(self, reason: Reason, detail: str = "", vehicle_reason: str = "") -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail
        self.vehicle_reason = vehicle_reason


class StageFailure(SessionEnd):
    """The stage cannot complete: timeout, incompatible vehicle, insulation fault, communication lost, …"""


class VehicleStop(SessionEnd):
    """The vehicle asked to stop (normal end: target SOC reached, driver stop from the car, …)."""

    def __init__(self, detail: str = "", vehicle_reason: str = "", reason: Reason = Reason.VEHICLE_STOP) -> None:
        super().__init__(reason, detail, vehicle_reason)


class StopRequested(SessionEnd):
    """A stop was requested by the station side (user, CSMS, shutdown, unplug)."""
