"""CSMS-initiated messages (OCPP 1.6 §5 and the security whitepaper §3–§4): the `@on` handlers decide and answer
at once from the client's state; anything that takes time or sends further messages runs in an `@after` hook or
a task (the `ocpp` package runs `@on` handlers inside its receive loop)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.routing import after, on
from ocpp.v16 import call_result

from evse.ocpp.authorization import send_local_list
from evse.ocpp.wire import Socket, WireChargePoint, plain
from evse.session.stages import Reason

if TYPE_CHECKING:
    from collections.abc import Callable

    from evse.ocpp.client import OcppClient

#: TriggerMessage (OCPP 1.6 §5.17) and ExtendedTriggerMessage (whitepaper §4.3) messages we can send on request
TRIGGERABLE = frozenset(
    {
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    }
)
EXTENDED_TRIGGERABLE = frozenset(
    {
        "BootNotification",
        "LogStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    }
)
#: unlock takes a mechanical movement; the answer waits for it, bounded
UNLOCK_TIMEOUT_S = 10.0


def camel(value: Any) -> Any:
    return plain(snake_to_camel_case(value))


class OcppChargePoint(WireChargePoint):
    def __init__(
        self, cp_id: str, socket: Socket, response_timeout_s: float, on_traffic: Callable[[], None], client: OcppClient
    ) -> None:
        super().__init__(cp_id, socket, response_timeout_s, on_traffic)
        self.client = client

    # -- Core
    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> call_result.ChangeConfiguration:
        return call_result.ChangeConfiguration(status=self.client.keys.change(key, value).value)

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> call_result.GetConfiguration:
        known, unknown = self.client.keys.report(key)
        return call_result.GetConfiguration(configuration_key=known, unknown_key=unknown or None)

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str) -> call_result.ChangeAvailability:
        return call_result.ChangeAvailability(status=self.client.change_availability(connector_id, type == "Operative"))

    @on("ClearCache")
    def on_clear_cache(self) -> call_result.ClearCache:
        self.client.auth.clear_cache()
        return call_result.ClearCache(status="Accepted")

    @on("DataTransfer")
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        # §4.3: a vendorId we do not know is UnknownVendorId; ours accepts no incoming messages
        status = "UnknownMessageId" if vendor_id == self.client.settings.vendor_id else "UnknownVendorId"
        return call_result.DataTransfer(status=status)

    @on("RemoteStartTransaction")
    def on_remote_start(
        self, id_tag: str, connector_id: int | None = None, charging_profile: dict[str, Any] | None = None
    ) -> call_result.RemoteStartTransaction:
        c = self.client
        target = c.remote_start_target(connector_id)
        if target is None:
            return call_result.RemoteStartTransaction(status="Rejected")
        if charging_profile is not None:
            profile = camel(charging_profile)
            if profile.get("chargingProfilePurpose") != "TxProfile":
                return call_result.RemoteStartTransaction(status="Rejected")
            c.pending_profiles[target] = profile
        c.connectors[target].id_tag = id_tag
        c.spawn(c.remote_start(target, id_tag))
        return call_result.RemoteStartTransaction(status="Accepted")

    @on("RemoteStopTransaction")
    def on_remote_stop(self, transaction_id: int) -> call_result.RemoteStopTransaction:
        c = self.client
        for state in c.connectors.values():
            if state.tx_local is not None and c.queue.csms_id(state.tx_local) == transaction_id:
                c.spawn(c.station.stop(state.connector_id, Reason.CSMS_STOP.value))
                return call_result.RemoteStopTransaction(status="Accepted")
        return call_result.RemoteStopTransaction(status="Rejected")

    @on("Reset")
    def on_reset(self, type: str) -> call_result.Reset:
        return call_result.Reset(status="Accepted")

    @after("Reset")
    def after_reset(self, type: str) -> None:
        self.client.spawn(self.client.reset(type))

    @on("UnlockConnector")
    async def on_unlock(self, connector_id: int) -> call_result.UnlockConnector:
        status = await self.client.unlock(connector_id, UNLOCK_TIMEOUT_S)
        return call_result.UnlockConnector(status=status)

    # -- Local auth list
    @on("GetLocalListVersion")
    def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        c = self.client
        version = c.auth.list_version if c.keys.get_bool("LocalAuthListEnabled") else -1
        return call_result.GetLocalListVersion(list_version=version)

    @on("SendLocalList")
    def on_send_local_list(
        self, list_version: int, update_type: str, local_authorization_list: list[dict[str, Any]] | None = None
    ) -> call_result.SendLocalList:
        entries = [camel(e) for e in local_authorization_list or []]
        return call_result.SendLocalList(status=send_local_list(self.client.auth, list_version, update_type, entries))

    # -- Reservation
    @on("ReserveNow")
    def on_reserve_now(
        self, connector_id: int, expiry_date: str, id_tag: str, reservation_id: int, parent_id_tag: str | None = None
    ) -> call_result.ReserveNow:
        return call_result.ReserveNow(
            status=self.client.reserve(connector_id, expiry_date, id_tag, reservation_id, parent_id_tag)
        )

    @on("CancelReservation")
    def on_cancel_reservation(self, reservation_id: int) -> call_result.CancelReservation:
        return call_result.CancelReservation(status=self.client.cancel_reservation(reservation_id))

    # -- Smart charging
    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any]
    ) -> call_result.SetChargingProfile:
        return call_result.SetChargingProfile(status=self.client.set_profile(connector_id, camel(cs_charging_profiles)))

    @on("ClearChargingProfile")
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> call_result.ClearChargingProfile:
        return call_result.ClearChargingProfile(
            status=self.client.clear_profiles(id, connector_id, charging_profile_purpose, stack_level)
        )

    @on("GetCompositeSchedule")
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> call_result.GetCompositeSchedule:
        r = self.client.composite(connector_id, duration, charging_rate_unit)
        return call_result.GetCompositeSchedule(
            status=r["status"],
            connector_id=r.get("connectorId"),
            schedule_start=r.get("scheduleStart"),
            charging_schedule=r.get("chargingSchedule"),
        )

    # -- Remote trigger
    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, connector_id: int | None = None) -> call_result.TriggerMessage:
        ok = requested_message in TRIGGERABLE and (
            connector_id is None or connector_id in self.client.connectors or connector_id == 0
        )
        return call_result.TriggerMessage(
            status="Accepted" if ok else ("NotImplemented" if requested_message not in TRIGGERABLE else "Rejected")
        )

    @after("TriggerMessage")
    def after_trigger_message(self, requested_message: str, connector_id: int | None = None) -> None:
        if requested_message in TRIGGERABLE:
            self.client.spawn(self.client.trigger(requested_message, connector_id))

    @on("ExtendedTriggerMessage")
    def on_extended_trigger(
        self, requested_message: str, connector_id: int | None = None
    ) -> call_result.ExtendedTriggerMessage:
        ok = requested_message in EXTENDED_TRIGGERABLE and (
            connector_id is None or connector_id in self.client.connectors or connector_id == 0
        )
        status = (
            "Accepted" if ok else ("NotImplemented" if requested_message not in EXTENDED_TRIGGERABLE else "Rejected")
        )
        return call_result.ExtendedTriggerMessage(status=status)

    @after("ExtendedTriggerMessage")
    def after_extended_trigger(self, requested_message: str, connector_id: int | None = None) -> None:
        if requested_message in EXTENDED_TRIGGERABLE:
            self.client.spawn(self.client.trigger(requested_message, connector_id))

    # -- Firmware management and diagnostics (work in evse.ocpp.maintenance)
    @on("UpdateFirmware")
    def on_update_firmware(
        self, location: str, retrieve_date: str, retries: int | None = None, retry_interval: int | None = None
    ) -> call_result.UpdateFirmware:
        self.client.spawn(self.client.update_firmware(location, retrieve_date, retries, retry_interval))
        return call_result.UpdateFirmware()

    @on("SignedUpdateFirmware")
    def on_signed_update_firmware(
        self, request_id: int, firmware: dict[str, Any], retries: int | None = None, retry_interval: int | None = None
    ) -> call_result.SignedUpdateFirmware:
        status = self.client.accept_signed_update(request_id, camel(firmware), retries, retry_interval)
        return call_result.SignedUpdateFirmware(status=status)

    @on("GetDiagnostics")
    def on_get_diagnostics(
        self,
        location: str,
        retries: int | None = None,
        retry_interval: int | None = None,
        start_time: str | None = None,
        stop_time: str | None = None,
    ) -> call_result.GetDiagnostics:
        file_name = self.client.start_diagnostics(location, retries, retry_interval)
        return call_result.GetDiagnostics(file_name=file_name)

    @on("GetLog")
    def on_get_log(
        self,
        log_type: str,
        request_id: int,
        log: dict[str, Any],
        retries: int | None = None,
        retry_interval: int | None = None,
    ) -> call_result.GetLog:
        status, file_name = self.client.start_log_upload(log_type, request_id, camel(log), retries, retry_interval)
        return call_result.GetLog(status=status, filename=file_name)
