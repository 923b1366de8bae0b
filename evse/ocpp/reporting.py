"""From session events to OCPP: transactions (Start/Stop/MeterValues through the persistent queue),
StatusNotification with mapped error codes, session data as DataTransfer (vehicle identity, negotiated limits,
the handshake report of a failed start) and the energy register.

A transaction starts when the session first enters a stage that follows authorization (insulation test and
later): by then the id tag is known and the vehicle is committed to charge. It stops at SessionEnded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
from typing import TYPE_CHECKING, Any

from evse.clock import wall_time
from evse.ocpp.faults import (
    INFO_MAX_LEN,
    VENDOR_ERROR_MAX_LEN,
    ErrorReport,
    report_for_fault,
    report_for_outcome,
    stop_reason,
)
from evse.ocpp.meter import (
    CONTEXT_BEGIN,
    CONTEXT_CLOCK,
    CONTEXT_END,
    CONTEXT_PERIODIC,
    meter_value,
    ocpp_time,
    sampled_values,
)
from evse.ocpp.queue import START, STOP
from evse.session.events import (
    ConnectorStatusChanged,
    Event,
    FaultRaised,
    LimitsNegotiated,
    MeterSample,
    SessionEnded,
    SessionStarted,
    StageChanged,
    VehicleIdentified,
)
from evse.session.stages import HANDSHAKE_STAGES, Reason, Stage

if TYPE_CHECKING:
    from evse.ocpp.client import OcppClient

log = logging.getLogger("evse.ocpp.reporting")

#: stages after authorization: entering one of them starts the OCPP transaction
TX_START_STAGES = frozenset({Stage.INSULATION_TEST, Stage.PRE_CHARGE, Stage.CONTACTOR_CLOSURE, Stage.ENERGY_TRANSFER})
#: the OCPP database state key of the per-connector energy register (Wh)
REGISTER_KEY = "energy_register_wh"
#: StopTransaction.transactionData kept per transaction (oldest dropped first)
STOP_DATA_MAX = 48
#: DataTransfer messageIds of our session data (docs/ocpp.md)
MSG_HANDSHAKE_REPORT = "HandshakeReport"
MSG_VEHICLE_IDENTITY = "VehicleIdentity"
MSG_VEHICLE_LIMITS = "VehicleLimits"


class Reporting:
    """Mixin of OcppClient: everything driven by session events."""

    def _client(self) -> OcppClient:
        return self  # type: ignore[return-value]

    # -- event intake
    async def _consume_events(self) -> None:
        c = self._client()
        while True:
            event = await c._events.get()
            try:
                self.handle_event(event)
            except Exception:
                log.exception("OCPP could not handle %s", type(event).__name__)

    def handle_event(self, event: Event) -> None:
        c = self._client()
        if event.connector_id == 0 and isinstance(event, ConnectorStatusChanged):
            # the charge point as a whole (OCPP 1.6 §4.9: connectorId 0), e.g. ReaderFailure from the RFID reader;
            # its status is derived from the connectors, only the error comes from the event
            error = None
            if event.error_code != "NoError":
                error = ErrorReport(event.error_code, event.info[:INFO_MAX_LEN], event.info[:VENDOR_ERROR_MAX_LEN])
            if error != c.station_error:
                c.station_error = error
                self.report_status(0)
            return
        state = c.connectors.get(event.connector_id)
        if state is None:
            return
        if isinstance(event, SessionStarted):
            state.session_id = event.session_id
            state.stop_data = []
            state.last_sample = None  # the previous session's readings are not this one's
            state.vehicle = {"standard": event.standard}
            state.data_sent = {}
        elif isinstance(event, StageChanged):
            state.stage = event.stage.value
            if event.stage in TX_START_STAGES and state.tx_local is None:
                self._start_transaction(event.connector_id, event.t_s)
        elif isinstance(event, MeterSample):
            # sessions count their own energy from 0; OCPP wants a register that only grows across sessions
            state.last_sample = dataclasses.replace(
                event, energy_wh=self._register_base(state.connector_id) + event.energy_wh
            )
            if state.tx_local is not None:
                c.queue.note_meter(state.tx_local, int(state.last_sample.energy_wh), ocpp_time(event.t_s))
        elif isinstance(event, VehicleIdentified):
            state.vehicle.update({"protocolVersion": event.protocol_version, **event.identity})
            self._data_transfer(MSG_VEHICLE_IDENTITY, {"connectorId": event.connector_id, **state.vehicle})
        elif isinstance(event, LimitsNegotiated):
            limits = {
                "vehicleMaxVoltageV": event.vehicle_max_voltage_v,
                "vehicleMaxCurrentA": event.vehicle_max_current_a,
                "vehicleMaxPowerW": event.vehicle_max_power_w,
                "chargerMaxVoltageV": event.charger_max_voltage_v,
                "chargerMaxCurrentA": event.charger_max_current_a,
                "targetVoltageV": event.target_voltage_v,
                "socPct": event.soc_pct,
            }
            state.limits = {k: v for k, v in limits.items() if v is not None}
            self._data_transfer(MSG_VEHICLE_LIMITS, {"connectorId": event.connector_id, **state.limits})
        elif isinstance(event, FaultRaised):
            state.error = report_for_fault(event.code, event.detail)
            if event.tripped:  # power is cut: the connector is Faulted until the station says otherwise
                state.status = "Faulted"
            self.report_status(event.connector_id)
        elif isinstance(event, SessionEnded):
            self._end_session(event)
        elif isinstance(event, ConnectorStatusChanged):
            state.status = event.status
            if event.error_code != "NoError":
                # the station's own code wins unless it is generic and we know better from the fault
                if state.error is None or event.error_code not in ("OtherError", "InternalError"):
                    vendor = state.error.vendor_error_code if state.error else ""
                    state.error = ErrorReport(event.error_code, event.info[:INFO_MAX_LEN], vendor)
            elif event.status == "Available":
                state.error = None
            self.report_status(event.connector_id)

    # -- transactions
    def _start_transaction(self, connector_id: int, t_s: float) -> None:
        c = self._client()
        state = c.connectors[connector_id]
        id_tag = None
        with contextlib.suppress(Exception):  # the station knows which identification this session runs on
            id_tag = c.station.snapshot(connector_id).id_tag
        id_tag = id_tag or state.id_tag
        id_tag = (id_tag or "unknown")[:20]
        state.id_tag = id_tag
        # before the session's first sample the register stands where the previous transaction left it
        meter_start = int(state.last_sample.energy_wh if state.last_sample else self._register_base(connector_id))
        state.tx_local = c.queue.begin(
            connector_id, id_tag, state.session_id, meter_start, ocpp_time(t_s), reservation_id=state.reservation_id
        )
        state.tx_start_epoch_s = wall_time(t_s=t_s).timestamp()
        if state.reservation_id is not None:
            c.reservations_used(connector_id)
        if state.last_sample is not None:
            state.stop_data.append(self._stop_value(state.last_sample, CONTEXT_BEGIN))
        profile = c.pending_profiles.pop(connector_id, None)
        if profile is not None:  # the TxProfile of a RemoteStartTransaction
            c.set_profile(connector_id, profile)
        c.replan()

    def _stop_value(self, sample: MeterSample, context: str) -> dict[str, Any]:
        c = self._client()
        return meter_value(
            ocpp_time(sample.t_s), sampled_values(sample, c.keys.get_list("StopTxnSampledData"), context)
        )

    # -- the energy register (Energy.Active.Import.Register, meterStart/meterStop)
    def _register_base(self, connector_id: int) -> float:
        registers = self._client().db.get_state(REGISTER_KEY, {}) or {}
        return float(registers.get(str(connector_id), 0.0))

    def _advance_register(self, connector_id: int, to_wh: float) -> None:
        db = self._client().db
        registers = db.get_state(REGISTER_KEY, {}) or {}
        registers[str(connector_id)] = max(float(registers.get(str(connector_id), 0.0)), to_wh)
        db.set_state(REGISTER_KEY, registers)

    def _end_session(self, event: SessionEnded) -> None:
        c = self._client()
        state = c.connectors[event.connector_id]
        outcome = event.outcome
        register_wh = self._register_base(event.connector_id) + event.energy_wh
        self._advance_register(event.connector_id, register_wh)
        if state.tx_local is not None:
            sample = state.last_sample
            meter_stop = int(max(register_wh, sample.energy_wh if sample is not None else 0.0))
            if sample is not None:
                state.stop_data.append(self._stop_value(sample, CONTEXT_END))
            reason = state.stop_reason or stop_reason(outcome)
            data = [v for v in state.stop_data if v["sampledValue"]][-STOP_DATA_MAX:]
            c.queue.end(state.tx_local, meter_stop, ocpp_time(event.t_s), reason, state.id_tag, data)
        report = report_for_outcome(outcome)
        if report is not None:
            state.error = report
            self.report_status(event.connector_id, force=True)
        if outcome.failed and outcome.stage in HANDSHAKE_STAGES:
            self._handshake_report(event)
        state.tx_local = None
        state.tx_start_epoch_s = None
        state.id_tag = None
        state.stop_reason = None
        state.session_id = None
        state.stop_data = []
        c.clear_profiles(None, event.connector_id, "TxProfile", None)  # §3.13.1: a TxProfile ends with its transaction
        if state.scheduled_available is not None:
            wanted = state.scheduled_available
            state.scheduled_available = None
            c.apply_availability(event.connector_id, wanted)
        c.replan()

    def _handshake_report(self, event: SessionEnded) -> None:
        c = self._client()
        state = c.connectors[event.connector_id]
        o = event.outcome
        sample = state.last_sample
        report: dict[str, Any] = {
            "connectorId": event.connector_id,
            "sessionId": event.session_id,
            "stage": o.stage.value,
            "reason": o.reason.value,
            "detail": o.detail,
            "vehicleReason": o.vehicle_reason,
            "stageDurationsS": {s.value: round(d, 3) for s, d in event.stage_durations_s.items()},
            "vehicle": state.vehicle,
            "limits": state.limits,
        }
        if sample is not None:
            report["last"] = {"voltageV": sample.voltage_v, "currentA": sample.current_a, "socPct": sample.soc_pct}
        payload = {"vendorId": c.settings.vendor_id, "messageId": MSG_HANDSHAKE_REPORT, "data": _compact(report)}
        c.queue.push("DataTransfer", payload)  # persistent: the evidence must survive being offline

    def _data_transfer(self, message_id: str, data: dict[str, Any]) -> None:
        c = self._client()
        state = c.connectors.get(int(data.get("connectorId", 0)))
        text = _compact(data)
        if state is not None:
            if state.data_sent.get(message_id) == text:
                return  # the protocol reported the same identity / limits again: nothing new for the CSMS
            state.data_sent[message_id] = text
        c.send("DataTransfer", {"vendorId": c.settings.vendor_id, "messageId": message_id, "data": text})

    def transaction_message_delivered(self, action: str, tx_local: int | None, response: dict[str, Any]) -> None:
        c = self._client()
        if action == START and tx_local is not None:
            c.queue.assign(tx_local, int(response["transactionId"]))
            info = response.get("idTagInfo", {})
            for state in c.connectors.values():
                if state.tx_local == tx_local and state.id_tag:
                    c.auth.remember(state.id_tag, info)
                    if info.get("status") != "Accepted" and c.keys.get_bool("StopTransactionOnInvalidId"):
                        state.stop_reason = "DeAuthorized"
                        c.spawn(c.station.stop(state.connector_id, Reason.AUTHORIZATION_REJECTED.value))
            c.replan()
        elif action == STOP:
            c.queue.forget_finished()

    def recover_open_transactions(self) -> None:
        """After a crash or power loss: stop every transaction still open, with the last meter value (once:
        the stop and the 'stopped' mark are one SQL transaction)."""
        c = self._client()
        for tx in c.queue.open_transactions():
            self._advance_register(tx.connector_id, float(tx.last_meter_wh))
            if c.queue.end(tx.local_id, tx.last_meter_wh, tx.last_meter_at, "PowerLoss", tx.id_tag):
                log.warning("stopped transaction %s left open by a crash (meter %d Wh)", tx.local_id, tx.last_meter_wh)

    # -- periodic meter values
    async def _sample_loop(self) -> None:
        c = self._client()
        while True:
            interval = c.keys.get_int("MeterValueSampleInterval")
            await asyncio.sleep(interval if interval > 0 else 1.0)
            if interval <= 0:
                continue
            for state in c.connectors.values():
                if state.tx_local is None or state.last_sample is None:
                    continue
                sample = state.last_sample
                values = sampled_values(sample, c.keys.get_list("MeterValuesSampledData"), CONTEXT_PERIODIC)
                if values:
                    payload = {"connectorId": state.connector_id, "meterValue": [meter_value(ocpp_time(), values)]}
                    c.queue.meter(state.tx_local, payload, int(sample.energy_wh), ocpp_time())
                state.stop_data.append(self._stop_value(sample, CONTEXT_PERIODIC))
                del state.stop_data[:-STOP_DATA_MAX]

    async def _aligned_loop(self) -> None:
        c = self._client()
        while True:
            interval = c.keys.get_int("ClockAlignedDataInterval")
            if interval <= 0:
                await asyncio.sleep(1.0)
                continue
            now = wall_time().timestamp()
            await asyncio.sleep(interval - (now % interval))  # OCPP 1.6 §4.7: aligned to midnight + k × interval
            for state in c.connectors.values():
                sample = state.last_sample
                if sample is None:
                    continue
                values = sampled_values(sample, c.keys.get_list("MeterValuesAlignedData"), CONTEXT_CLOCK)
                if not values:
                    continue
                payload: dict[str, Any] = {
                    "connectorId": state.connector_id,
                    "meterValue": [meter_value(ocpp_time(), values)],
                }
                if state.tx_local is not None:
                    c.queue.meter(state.tx_local, payload, int(sample.energy_wh), ocpp_time())
                    stop_values = sampled_values(sample, c.keys.get_list("StopTxnAlignedData"), CONTEXT_CLOCK)
                    if stop_values:
                        state.stop_data.append(meter_value(ocpp_time(), stop_values))
                else:
                    c.send("MeterValues", payload)

    # -- status
    def report_status(self, connector_id: int, force: bool = False) -> None:
        c = self._client()
        payload = c.status_payload(connector_id)
        state = c.connectors.get(connector_id)
        key = (payload["status"], payload["errorCode"])
        if state is not None:
            if not force and state.reported == key:
                return
            if c.online:
                state.reported = key
        c.send("StatusNotification", payload)

    def status_payload(self, connector_id: int) -> dict[str, Any]:
        c = self._client()
        payload: dict[str, Any] = {"connectorId": connector_id, "errorCode": "NoError", "timestamp": ocpp_time()}
        if connector_id == 0:
            anything = any(s.available for s in c.connectors.values())
            payload["status"] = "Available" if anything else "Unavailable"
            return _with_error(payload, c.station_error)
        state = c.connectors[connector_id]
        status = state.status
        if not state.available and state.tx_local is None and status in ("Available", "Preparing", "Finishing"):
            status = "Unavailable"
        elif state.reservation_id is not None and status == "Available":
            status = "Reserved"
        payload["status"] = status
        return _with_error(payload, state.error)


def _with_error(payload: dict[str, Any], error: ErrorReport | None) -> dict[str, Any]:
    if error is not None:
        payload["errorCode"] = error.error_code
        if error.info:
            payload["info"] = error.info
        if error.vendor_error_code:
            payload["vendorErrorCode"] = error.vendor_error_code
    return payload


def _compact(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=True, default=str)
