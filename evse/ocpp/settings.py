"""OCPP 1.6J client: configuration values (declared per `evse.config.meta`).

These are the *local* settings (where the CSMS is, how to authenticate, timings of our own machinery). The OCPP
configuration keys the CSMS can read and change (HeartbeatInterval, MeterValueSampleInterval …) live in
`evse.ocpp.config_keys`, persisted in the OCPP database; the values here only seed them on first start.
"""

from __future__ import annotations

from typing import Annotated

from evse.config.meta import Settings, setting


class OcppSettings(Settings, frozen=True):
    """OCPP 1.6J client."""

    enabled: Annotated[bool, setting("Connect to a CSMS over OCPP 1.6J")] = False
    csms_url: Annotated[
        str, setting("CSMS WebSocket URL (ws:// or wss://); the charge point id is appended as the last path segment")
    ] = "ws://127.0.0.1:9000"
    charge_point_id: Annotated[
        str, setting("Charge point identity (set here it overrides [station] id)", min_length=1)
    ] = "evse-1"
    security_profile: Annotated[
        int,
        setting(
            "OCPP security profile: 0 none, 1 Basic auth, 2 TLS + Basic auth, 3 TLS client certificate", ge=0, le=3
        ),
    ] = 0
    password_file: Annotated[
        str, setting("File holding the Basic-auth password (profiles 1, 2); empty: the persisted AuthorizationKey")
    ] = ""
    ca_file: Annotated[
        str, setting("PEM trust anchors for the CSMS certificate (profiles 2, 3); empty: system store")
    ] = ""
    client_cert_file: Annotated[str, setting("PEM client certificate chain (profile 3)")] = ""
    client_key_file: Annotated[str, setting("PEM private key of the client certificate (profile 3)")] = ""
    state_dir: Annotated[
        str, setting("Directory of the OCPP database ocpp.sqlite; empty: the daemon's state directory")
    ] = ""

    vendor: Annotated[str, setting("chargePointVendor (set here it overrides [station] vendor)", max_length=20)] = (
        "evse"
    )
    model: Annotated[str, setting("chargePointModel (set here it overrides [station] model)", max_length=20)] = (
        "evse-dc"
    )
    serial_number: Annotated[
        str, setting("chargePointSerialNumber (overrides [station] serial_number)", max_length=25)
    ] = ""
    firmware_version: Annotated[str, setting("BootNotification firmwareVersion", max_length=50)] = ""

    connect_timeout_s: Annotated[float, setting("Timeout of one WebSocket connection attempt", "s", gt=0)] = 10.0
    response_timeout_s: Annotated[float, setting("Time a CALL waits for the CSMS's answer", "s", gt=0)] = 30.0
    backoff_initial_s: Annotated[
        float, setting("First reconnect delay (doubled per failure, with jitter)", "s", gt=0)
    ] = 1.0
    backoff_max_s: Annotated[float, setting("Longest reconnect delay", "s", gt=0)] = 120.0
    backoff_jitter: Annotated[float, setting("Random fraction added to each reconnect delay", "", ge=0, le=1)] = 0.3
    boot_retry_s: Annotated[
        float, setting("BootNotification retry when the CSMS answers Pending/Rejected with interval 0", "s", gt=0)
    ] = 60.0
    ping_interval_s: Annotated[
        float, setting("WebSocket ping interval (0: WebSocketPingInterval key decides)", "s", ge=0)
    ] = 0.0
    ping_timeout_s: Annotated[float, setting("Close the connection when a ping is not answered within", "s", gt=0)] = (
        20.0
    )
    max_frame_bytes: Annotated[int, setting("Largest WebSocket frame accepted from the CSMS", "B", gt=1024)] = 1_048_576
    number_of_connectors: Annotated[int, setting("Connectors when the station cannot tell (tests)", "", ge=1)] = 1

    heartbeat_interval_s: Annotated[int, setting("Initial HeartbeatInterval key value", "s", ge=0)] = 300
    meter_sample_interval_s: Annotated[int, setting("Initial MeterValueSampleInterval key value", "s", ge=0)] = 60
    clock_aligned_interval_s: Annotated[int, setting("Initial ClockAlignedDataInterval key value", "s", ge=0)] = 900
    transaction_message_attempts: Annotated[int, setting("Initial TransactionMessageAttempts key value", "", ge=1)] = 5
    transaction_message_retry_s: Annotated[
        int, setting("Initial TransactionMessageRetryInterval key value", "s", ge=1)
    ] = 30
    vendor_id: Annotated[str, setting("DataTransfer vendorId of our session-data messages", max_length=255)] = (
        "org.evse"
    )

    firmware_install_command: Annotated[
        str, setting("Command run to install a downloaded firmware file (its path is the argument); empty: refuse")
    ] = ""
    firmware_certificate_file: Annotated[
        str, setting("PEM certificate whose key signs firmware (SignedUpdateFirmware is verified against it)")
    ] = ""
    diagnostics_paths: Annotated[
        list[str], setting("Files and directories packed into a GetDiagnostics / GetLog upload")
    ] = []
    upload_timeout_s: Annotated[float, setting("Timeout of one diagnostics/firmware transfer", "s", gt=0)] = 60.0
