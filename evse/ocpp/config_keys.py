"""The OCPP 1.6 configuration keys (OCPP 1.6 §9 "Standard Configuration Key Names & Values", and the security
whitepaper's §1.3 keys): their types, read-only / write-only / reboot-required semantics, defaults, persisted in
the OCPP database so a value the CSMS set survives restarts.

ChangeConfiguration answers (§6.9): Accepted, Rejected (read-only or invalid value), RebootRequired (accepted,
in force after the next reconnect/reboot), NotSupported (unknown key). GetConfiguration (§6.25) lists unknown
keys in `unknownKey`; write-only keys (AuthorizationKey) are never reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from evse.ocpp.db import OcppDatabase
from evse.ocpp.settings import OcppSettings


class KeyType(StrEnum):
    BOOL = "boolean"
    INT = "integer"
    CSL = "csl"  # comma-separated list
    STRING = "string"


class ChangeResult(StrEnum):
    ACCEPTED = "Accepted"
    REJECTED = "Rejected"
    REBOOT_REQUIRED = "RebootRequired"
    NOT_SUPPORTED = "NotSupported"


#: measurands a DC charger can report (OCPP 1.6 §7.31 Measurand)
SUPPORTED_MEASURANDS: frozenset[str] = frozenset(
    {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
        "Voltage",
        "SoC",
        "Temperature",
        "Current.Offered",
        "Power.Offered",
    }
)
#: whitepaper §1.3: AuthorizationKey is 16..40 bytes (hex up to 40 chars)
AUTHORIZATION_KEY_MIN_LEN = 16
AUTHORIZATION_KEY_MAX_LEN = 40
#: CiString500Type: the longest configuration value (OCPP 1.6 §7.22 KeyValue.value)
MAX_VALUE_LENGTH = 500
MEASURAND_LIST_MAX = 8
GET_CONFIGURATION_MAX_KEYS = 100
LOCAL_AUTH_LIST_MAX_LENGTH = 1000
SEND_LOCAL_LIST_MAX_LENGTH = 500
MAX_STACK_LEVEL = 10
MAX_SCHEDULE_PERIODS = 24
MAX_PROFILES_INSTALLED = 20


@dataclass(frozen=True, slots=True)
class KeyDef:
    name: str
    type: KeyType
    default: str
    readonly: bool = False
    write_only: bool = False
    reboot_required: bool = False
    check: Callable[[str], bool] | None = None  # extra validation of a new value


def _measurands_ok(value: str) -> bool:
    items = [v.strip() for v in value.split(",") if v.strip()]
    return len(items) <= MEASURAND_LIST_MAX and all(v in SUPPORTED_MEASURANDS for v in items)


def _auth_key_ok(value: str) -> bool:
    return AUTHORIZATION_KEY_MIN_LEN <= len(value) <= AUTHORIZATION_KEY_MAX_LEN


def definitions(settings: OcppSettings, connectors: int) -> dict[str, KeyDef]:
    b, i, c, s = KeyType.BOOL, KeyType.INT, KeyType.CSL, KeyType.STRING
    sampled = "Energy.Active.Import.Register,Power.Active.Import,Current.Import,Voltage,SoC"
    defs = [
        KeyDef("AllowOfflineTxForUnknownId", b, "false"),
        KeyDef("AuthorizationCacheEnabled", b, "true"),
        KeyDef("AuthorizeRemoteTxRequests", b, "false"),
        KeyDef("ClockAlignedDataInterval", i, str(settings.clock_aligned_interval_s)),
        KeyDef("ConnectionTimeOut", i, "60"),
        KeyDef("ConnectorPhaseRotation", c, "0.Unknown"),
        KeyDef("GetConfigurationMaxKeys", i, str(GET_CONFIGURATION_MAX_KEYS), readonly=True),
        KeyDef("HeartbeatInterval", i, str(settings.heartbeat_interval_s)),
        KeyDef("LocalAuthorizeOffline", b, "true"),
        KeyDef("LocalPreAuthorize", b, "false"),
        KeyDef("MeterValuesAlignedData", c, "Energy.Active.Import.Register", check=_measurands_ok),
        KeyDef("MeterValuesAlignedDataMaxLength", i, str(MEASURAND_LIST_MAX), readonly=True),
        KeyDef("MeterValuesSampledData", c, sampled, check=_measurands_ok),
        KeyDef("MeterValuesSampledDataMaxLength", i, str(MEASURAND_LIST_MAX), readonly=True),
        KeyDef("MeterValueSampleInterval", i, str(settings.meter_sample_interval_s)),
        KeyDef("NumberOfConnectors", i, str(connectors), readonly=True),
        KeyDef("ResetRetries", i, "1"),
        KeyDef("StopTransactionOnEVSideDisconnect", b, "true"),
        KeyDef("StopTransactionOnInvalidId", b, "true"),
        KeyDef("StopTxnAlignedData", c, "", check=_measurands_ok),
        KeyDef("StopTxnAlignedDataMaxLength", i, str(MEASURAND_LIST_MAX), readonly=True),
        KeyDef("StopTxnSampledData", c, "Energy.Active.Import.Register", check=_measurands_ok),
        KeyDef("StopTxnSampledDataMaxLength", i, str(MEASURAND_LIST_MAX), readonly=True),
        KeyDef(
            "SupportedFeatureProfiles",
            c,
            "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger",
            readonly=True,
        ),
        KeyDef("TransactionMessageAttempts", i, str(settings.transaction_message_attempts)),
        KeyDef("TransactionMessageRetryInterval", i, str(settings.transaction_message_retry_s)),
        KeyDef("UnlockConnectorOnEVSideDisconnect", b, "true"),
        # the ping interval is a parameter of the WebSocket connection: in force from the next connection
        KeyDef("WebSocketPingInterval", i, "30", reboot_required=True),
        KeyDef("LocalAuthListEnabled", b, "true"),
        KeyDef("LocalAuthListMaxLength", i, str(LOCAL_AUTH_LIST_MAX_LENGTH), readonly=True),
        KeyDef("SendLocalListMaxLength", i, str(SEND_LOCAL_LIST_MAX_LENGTH), readonly=True),
        KeyDef("ReserveConnectorZeroSupported", b, "false", readonly=True),
        KeyDef("ChargeProfileMaxStackLevel", i, str(MAX_STACK_LEVEL), readonly=True),
        KeyDef("ChargingScheduleAllowedChargingRateUnit", c, "Current,Power", readonly=True),
        KeyDef("ChargingScheduleMaxPeriods", i, str(MAX_SCHEDULE_PERIODS), readonly=True),
        KeyDef("MaxChargingProfilesInstalled", i, str(MAX_PROFILES_INSTALLED), readonly=True),
        # security whitepaper §1.3
        KeyDef("AuthorizationKey", s, "", write_only=True, check=_auth_key_ok),
        KeyDef("SecurityProfile", i, str(settings.security_profile)),
        KeyDef("CpoName", s, ""),
    ]
    return {d.name: d for d in defs}


def _valid(d: KeyDef, value: str) -> bool:
    if len(value) > MAX_VALUE_LENGTH:
        return False
    if d.type is KeyType.BOOL:
        return value.lower() in ("true", "false")
    if d.type is KeyType.INT:
        try:
            return int(value) >= 0
        except ValueError:
            return False
    return d.check is None or d.check(value)


class ConfigurationKeys:
    """The key/value store the CSMS sees. Values are strings on the wire; typed getters for our code."""

    def __init__(self, db: OcppDatabase, settings: OcppSettings, connectors: int) -> None:
        self._db = db
        self.defs = definitions(settings, connectors)
        self._values: dict[str, str] = {name: d.default for name, d in self.defs.items()}
        for key, value in db.conn.execute("SELECT key, value FROM config"):
            if key in self.defs and not self.defs[key].readonly:
                self._values[key] = value
        self._listeners: list[Callable[[str, str], None]] = []

    def on_change(self, listener: Callable[[str, str], None]) -> None:
        self._listeners.append(listener)

    def get(self, key: str) -> str:
        return self._values[key]

    def get_int(self, key: str) -> int:
        return int(self._values[key])

    def get_bool(self, key: str) -> bool:
        return self._values[key].lower() == "true"

    def get_list(self, key: str) -> list[str]:
        return [v.strip() for v in self._values[key].split(",") if v.strip()]

    def change(self, key: str, value: str) -> ChangeResult:
        d = self.defs.get(key)
        if d is None:
            return ChangeResult.NOT_SUPPORTED
        if d.readonly or not _valid(d, value):
            return ChangeResult.REJECTED
        if key == "SecurityProfile" and int(value) < self.get_int("SecurityProfile"):
            return ChangeResult.REJECTED  # whitepaper §2.4: a security profile may only be raised
        if d.type is KeyType.BOOL:
            value = value.lower()
        self.set(key, value)
        return ChangeResult.REBOOT_REQUIRED if d.reboot_required else ChangeResult.ACCEPTED

    def set(self, key: str, value: str) -> None:
        """Set and persist (our own writes: no read-only check)."""
        self._values[key] = value
        self._db.conn.execute(
            "INSERT INTO config(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        for listener in tuple(self._listeners):
            listener(key, value)

    def report(self, keys: list[str] | None) -> tuple[list[dict[str, object]], list[str]]:
        """GetConfiguration: (configurationKey entries, unknownKey)."""
        wanted = list(self.defs) if not keys else keys
        known: list[dict[str, object]] = []
        unknown: list[str] = []
        for key in wanted:
            d = self.defs.get(key)
            if d is None or d.write_only:
                unknown.append(key)
                continue
            known.append({"key": key, "readonly": d.readonly, "value": self._values[key]})
        return known, unknown
