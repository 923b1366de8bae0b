"""The board's protobuf messages (`EverestToMcu` host → board, `McuToEverest` board → host), built at run time.

The message set is the public `phyverso.proto` of EVerest's PhyVersoBSP module (proto3, nanopb on the MCU):
field numbers, types and enum values below are the facts of that file, declared as tables and turned into a
`FileDescriptorProto` that the protobuf runtime compiles — no generated code and no protoc in the build, and the
wire format is protobuf's own. Field numbers are the protocol: never renumber.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError, Message

F = descriptor_pb2.FieldDescriptorProto
PACKAGE = "evse.yeti"


class CpState(IntEnum):
    """`enum CpState` — the IEC 61851-1 state the board's CP sensing sees."""

    STATE_A = 0
    STATE_B = 1
    STATE_C = 2
    STATE_D = 3
    STATE_E = 4
    STATE_F = 5


class PpState(IntEnum):
    """`enum PpState` — the cable's PP coding (IEC 61851-1 Annex B: 1.5 kΩ / 680 Ω / 220 Ω / 100 Ω)."""

    STATE_NC = 0
    STATE_13A = 1
    STATE_20A = 2
    STATE_32A = 3
    STATE_70A = 4
    STATE_FAULT = 5


class LockState(IntEnum):
    UNDEFINED = 0
    UNLOCKED = 1
    LOCKED = 2


class ResetReason(IntEnum):
    USER = 0
    WATCHDOG = 1


class CoilType(IntEnum):
    """`enum CoilType` — which relay driver of a connector a coil command addresses."""

    COIL_UNKNOWN = 0
    COIL_AC = 1
    COIL_DC1 = 2
    COIL_DC2 = 3
    COIL_DC3 = 4


class HardwareRevision(IntEnum):
    HW_REV_UNKNOWN = 0
    HW_REV_A = 1
    HW_REV_B = 2


class MotorLockType(IntEnum):
    MOTOR_LOCK_UNKNOWN = 0
    MOTOR_LOCK_QWELLO = 1
    MOTOR_LOCK_DEBUG_VALEO_HVAC = 2


class LedState(IntEnum):
    GREEN = 0
    BLUE = 1
    RED = 2


#: `EverestToMcu.connector` / `McuToEverest.connector`: 0 = the board itself, 1 or 2 = a connector
BOARD = 0
#: `pwm_duty_cycle` is in 0.01 %: 0 = state F (steady −12 V), 10000 = X1 (steady +12 V)
PWM_STEADY_F = 0
PWM_STEADY_X1 = 10_000

ENUMS: dict[str, type[IntEnum]] = {
    "CpState": CpState,
    "PpState": PpState,
    "LockState": LockState,
    "ResetReason": ResetReason,
    "CoilType": CoilType,
    "ConfigHardwareRevision": HardwareRevision,
    "MotorLockType": MotorLockType,
    "LedState": LedState,
}

# (name, number, type, message/enum type name or "", in the `payload` oneof, repeated)
Field = tuple[str, int, int, str, bool, bool]


def _f(name: str, number: int, kind: int, type_name: str = "", *, oneof: bool = False, repeated: bool = False) -> Field:
    return (name, number, kind, type_name, oneof, repeated)


B, U32, I32, S = F.TYPE_BOOL, F.TYPE_UINT32, F.TYPE_INT32, F.TYPE_STRING
M, E = F.TYPE_MESSAGE, F.TYPE_ENUM

MESSAGES: dict[str, list[Field]] = {
    "EverestToMcu": [
        _f("keep_alive", 1, M, "KeepAlive", oneof=True),
        _f("firmware_update", 2, B, oneof=True),
        _f("connector_lock", 3, B, oneof=True),  # false: unlock, true: lock
        _f("pwm_duty_cycle", 4, U32, oneof=True),
        _f("set_coil_state_request", 5, M, "CoilState", oneof=True),
        _f("reset", 6, B, oneof=True),
        _f("config_response", 8, M, "BootConfigResponse", oneof=True),
        _f("set_fan_state", 9, M, "FanState", oneof=True),
        _f("rcd_cmd", 10, M, "RcdCommand", oneof=True),
        _f("set_led_state", 11, M, "LedStateMessage", oneof=True),
        _f("connector", 7, I32),
    ],
    "McuToEverest": [
        _f("keep_alive", 1, M, "KeepAlive", oneof=True),
        _f("reset", 2, E, "ResetReason", oneof=True),
        _f("cp_state", 3, E, "CpState", oneof=True),
        _f("set_coil_state_response", 4, M, "CoilState", oneof=True),
        _f("error_flags", 5, M, "ErrorFlags", oneof=True),
        _f("telemetry", 7, M, "Telemetry", oneof=True),
        _f("pp_state", 8, E, "PpState", oneof=True),
        _f("fan_state", 9, M, "FanState", oneof=True),
        _f("lock_state", 10, E, "LockState", oneof=True),
        _f("config_request", 11, M, "BootConfigRequest", oneof=True),
        _f("temperature", 12, M, "Temperature", oneof=True),
        _f("connector", 6, I32),
    ],
    "ErrorFlags": [
        _f("diode_fault", 1, B),
        _f("rcd_selftest_failed", 2, B),
        _f("rcd_triggered", 3, B),
        _f("ventilation_not_available", 4, B),
        _f("connector_lock_failed", 5, B),
        _f("cp_signal_fault", 6, B),
    ],
    "KeepAlive": [
        _f("time_stamp", 1, U32),
        _f("hw_type", 2, U32),
        _f("hw_revision", 3, U32),
        _f("sw_version_string", 6, S),
    ],
    "Telemetry": [_f("cp_voltage_hi", 1, U32), _f("cp_voltage_lo", 2, U32)],
    "FanState": [_f("fan_id", 1, U32), _f("enabled", 2, B), _f("duty", 3, U32), _f("rpm", 4, U32)],
    "LedStateMessage": [_f("led_state", 1, E, "LedState"), _f("brightness", 2, U32)],
    "CoilState": [_f("coil_type", 1, E, "CoilType"), _f("coil_state", 2, B)],
    "BootConfigRequest": [],
    "BootConfigResponse": [
        _f("hw_rev", 1, E, "ConfigHardwareRevision"),
        _f("lock_1", 2, M, "ConfigMotorLockType"),
        _f("lock_2", 3, M, "ConfigMotorLockType"),
    ],
    "ConfigMotorLockType": [_f("type", 1, E, "MotorLockType")],
    "Temperature": [_f("temp", 1, U32, repeated=True)],
    "OpaqueData": [
        _f("data", 1, U32, repeated=True),
        _f("id", 2, U32),
        _f("chunks_total", 3, U32),
        _f("chunk_current", 4, U32),
        _f("connector", 5, I32),
    ],
    "RcdCommand": [_f("test", 1, B), _f("reset", 2, B)],
}


def file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    fdp = descriptor_pb2.FileDescriptorProto(name="evse_yeti_phyverso.proto", package=PACKAGE, syntax="proto3")
    for name, enum in ENUMS.items():
        e = fdp.enum_type.add(name=name)
        for member in enum:
            e.value.add(name=f"{name}_{member.name}", number=member.value)  # proto3 enum values share a scope
    for name, fields in MESSAGES.items():
        m = fdp.message_type.add(name=name)
        if any(oneof for *_, oneof, _ in fields):
            m.oneof_decl.add(name="payload")
        for field_name, number, kind, type_name, oneof, repeated in fields:
            field = m.field.add(name=field_name, number=number, type=kind)
            field.label = F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL
            if type_name:
                field.type_name = f".{PACKAGE}.{type_name}"
            if oneof:
                field.oneof_index = 0
    return fdp


_pool = descriptor_pool.DescriptorPool()
_file = _pool.Add(file_descriptor())
_classes: dict[str, type[Message]] = {
    name: message_factory.GetMessageClass(_pool.FindMessageTypeByName(f"{PACKAGE}.{name}")) for name in MESSAGES
}


def new(name: str, **fields: Any) -> Any:
    """A message of type `name` (e.g. `new("CoilState", coil_type=CoilType.COIL_DC1, coil_state=True)`)."""
    return _classes[name](**fields)


def to_mcu(payload: str, value: Any, connector: int = BOARD) -> bytes:
    """A serialized `EverestToMcu` with `payload` set (a message or a scalar) for `connector`."""
    message = _classes["EverestToMcu"](connector=connector)
    _set(message, payload, value)
    return message.SerializeToString()


def to_host(payload: str, value: Any, connector: int = BOARD) -> bytes:
    """A serialized `McuToEverest` (the emulator's side)."""
    message = _classes["McuToEverest"](connector=connector)
    _set(message, payload, value)
    return message.SerializeToString()


def _set(message: Any, payload: str, value: Any) -> None:
    field = message.DESCRIPTOR.fields_by_name[payload]
    if field.type == F.TYPE_MESSAGE:
        getattr(message, payload).CopyFrom(value)
    else:
        setattr(message, payload, value)


def parse_from_mcu(data: bytes) -> tuple[str | None, Any, int]:
    """Decode a board message: (payload name or None when none is set, its value, connector).
    Raises `MessageError` for bytes that are not a `McuToEverest`."""
    return _parse("McuToEverest", data)


def parse_to_mcu(data: bytes) -> tuple[str | None, Any, int]:
    """Decode a host message (the emulator's side)."""
    return _parse("EverestToMcu", data)


class MessageError(Exception):
    pass


def _parse(name: str, data: bytes) -> tuple[str | None, Any, int]:
    message = _classes[name]()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise MessageError(f"not a {name}: {exc}") from exc
    which = message.WhichOneof("payload")
    value = getattr(message, which) if which is not None else None
    return which, value, message.connector
