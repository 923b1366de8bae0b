"""InfyPower group driver against module emulators on an in-loop CAN bus (virtual time) and on python-can's
`virtual` bus (real time, short)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evse.can.channel import InLoopBus
from evse.hardware import registry
from evse.hardware.drivers.emulators.infypower import InfyModuleEmulator
from evse.hardware.drivers.infypower import protocol as p
from evse.hardware.drivers.infypower.bus import ModuleBus
from evse.hardware.drivers.infypower.group import InfyPowerGroup
from evse.hardware.drivers.settings import InfyPowerSettings
from evse.hardware.roles import PowerModule

pytestmark = pytest.mark.looptime


@given(st.integers(0, 7), st.integers(0, 15), st.integers(0, 63), st.integers(0, 255), st.integers(0, 255))
def test_identifier_round_trip(error: int, device: int, command: int, destination: int, source: int) -> None:
    ident = p.InfyId(error, device, command, destination, source)
    assert p.InfyId.decode(ident.encode()) == ident
    assert ident.encode() < 1 << 29


@given(st.binary(max_size=8))
def test_status_decoder_never_crashes(data: bytes) -> None:
    status = p.ModuleStatus.decode(data)
    assert status.fault_code() is None or status.fault_code().startswith("module_")  # type: ignore[union-attr]


@given(st.floats(0, 1000), st.floats(0, 500))
def test_setpoint_round_trip_to_the_milli_unit(voltage_v: float, current_a: float) -> None:
    v, i = p.decode_set_output(p.encode_set_output(voltage_v, current_a))
    assert abs(v - voltage_v) <= 0.0005 and abs(i - current_a) <= 0.0005


def test_known_frame_layout() -> None:
    # module 1, set 500 V / 60 A from the controller: 0x0A << 22 | 0x1C << 16 | 0x01 << 8 | 0xF0
    frame = p.request(p.CMD_SET_MODULE_OUTPUT, 1, group=False, data=p.encode_set_output(500, 60))
    assert frame.arbitration_id == 0x029C01F0 and frame.is_extended_id
    assert frame.data == bytes.fromhex("0007A120 0000EA60")
    # off: byte 0 = 1 (EVerest SetModuleOnOff)
    assert p.request(p.CMD_SET_ON_OFF, 1, group=False, data=bytes([p.OFF])).data == bytes.fromhex("0100000000000000")


def test_frames_of_a_module_as_published_by_everest() -> None:
    # module 0's replies in EVerest's InfyPower/wireshark/sim_module0_responses.sh (request ...00F0, reply ...F000)
    assert p.InfyId.decode(0x0283F000) == p.InfyId(p.ERROR_NORMAL, p.DEVICE_SINGLE, 0x03, p.CONTROLLER_ADDRESS, 0)
    assert p.decode_output_reading(bytes.fromhex("43FA000040600000")) == (500.0, 3.5)
    assert p.encode_output_reading(500.0, 3.5) == bytes.fromhex("43FA000040600000")
    status = p.ModuleStatus.decode(bytes.fromhex("000000021B004000"))
    assert (status.group, status.temperature_c) == (0, 27)
    assert status.table1 == p.T1_WALK_IN and status.fault_code() is None  # walk-in is a state
    assert p.request(p.CMD_READ_MODULE_OUTPUT, 0, group=False).arbitration_id == 0x028300F0


@pytest.mark.parametrize(
    ("byte", "bit", "code"),
    [
        (7, 0, "module_output_short"),
        (7, 2, "module_internal_communication"),
        (7, 3, "module_input_or_bus_abnormal"),
        (7, 4, None),  # sleeping
        (7, 5, "module_discharge_fault"),
        (6, 0, None),  # DC side off
        (6, 1, "module_fault"),
        (6, 4, "module_overtemperature"),
        (6, 5, "module_output_overvoltage"),
        (6, 6, None),  # walk-in enabled
        (5, 0, None),  # power limiting
        (5, 3, "module_input_phase_lost"),
        (5, 7, None),  # PFC side off
    ],
)
def test_status_bits_where_the_public_sources_put_them(byte: int, bit: int, code: str | None) -> None:
    data = bytearray(8)
    data[byte] = 1 << bit
    assert p.ModuleStatus.decode(bytes(data)).fault_code() == code


def _constant(load_a: float) -> Callable[[float], float]:
    return lambda _voltage_v: load_a


def _station(n: int = 3, load: float = 0.0, **overrides: object) -> tuple[InfyPowerGroup, list[InfyModuleEmulator]]:
    bus = InLoopBus("modules")
    settings = InfyPowerSettings(interface="inloop", channel="modules", group=2, modules=tuple(range(n)), **overrides)  # type: ignore[arg-type]
    module_bus = ModuleBus(bus.attach("controller"))
    group = InfyPowerGroup(module_bus.channel, settings)
    module_bus.attach(group)
    emulators = [InfyModuleEmulator(bus.attach(f"m{a}"), a, 2, group_size=n, load_a=_constant(load)) for a in range(n)]
    return group, emulators


async def test_group_regulates_and_shares_current() -> None:
    group, modules = _station(3, load=150.0)
    assert isinstance(group, PowerModule)
    assert group.capabilities().max_current_a == 300.0
    group.set_target(400.0, 120.0)
    group.enable()
    await asyncio.sleep(0.5)
    assert all(m.on for m in modules)
    assert group.enabled() and group.fault() is None
    assert group.measured_voltage_v() == pytest.approx(400.0)
    assert group.measured_current_a() == pytest.approx(120.0)  # the limit, shared 40 A per module
    assert modules[0].current_limit_a == pytest.approx(40.0)
    group.disable()
    assert not group.enabled()
    await asyncio.sleep(0.3)
    assert not any(m.on for m in modules)
    assert group.measured_current_a() == 0.0
    group.shutdown()


async def test_setpoint_is_clamped_to_the_group_capabilities() -> None:
    group, modules = _station(2)
    group.set_target(1500.0, 1000.0)
    await asyncio.sleep(0.05)
    assert modules[0].voltage_set_v == 1000.0
    # 2 × 30 kW at 1000 V → 60 A, not 200 A
    assert modules[0].current_limit_a * 2 == pytest.approx(60.0)
    group.shutdown()


async def test_listeners_hear_every_reading() -> None:
    group, _modules = _station(2)
    calls: list[float] = []
    group.add_listener(lambda: calls.append(group.measured_voltage_v()))
    await asyncio.sleep(1.0)
    assert len(calls) >= 10 * 2  # every poll, every module
    group.shutdown()


@pytest.mark.parametrize(
    ("table", "bit", "code"),
    [
        (1, p.T1_OVER_TEMPERATURE, "module_overtemperature"),
        (0, p.T0_OUTPUT_SHORT, "module_output_short"),
        (2, p.T2_INPUT_PHASE_LOST, "module_input_phase_lost"),
        (1, p.T1_FAN_FAULT, "module_fan_fault"),
    ],
)
async def test_alarm_bits_become_fault_codes_and_switch_the_group_off(table: int, bit: int, code: str) -> None:
    group, modules = _station(3, load=50.0)
    group.set_target(400.0, 50.0)
    group.enable()
    await asyncio.sleep(0.3)
    heard: list[str | None] = []
    group.add_listener(lambda: heard.append(group.fault()))
    modules[1].alarm(table, bit)
    await asyncio.sleep(0.3)
    assert group.fault() == code and code in heard
    assert not group.enabled()
    assert not any(m.on for m in modules)  # the group was commanded off
    group.enable()  # refused while faulted
    await asyncio.sleep(0.2)
    assert not any(m.on for m in modules)
    modules[1].clear_alarms()
    await asyncio.sleep(0.3)
    assert group.fault() is None
    group.shutdown()


async def test_module_fault_is_reported() -> None:
    group, modules = _station(2)
    group.set_target(300.0, 10.0)
    group.enable()
    await asyncio.sleep(0.3)
    modules[0].module_fault()
    await asyncio.sleep(0.3)
    assert group.fault() == "module_fault"
    group.shutdown()


async def test_a_silent_module_is_a_fault_after_the_timeout() -> None:
    group, modules = _station(3)
    await asyncio.sleep(0.5)
    assert group.fault() is None
    modules[2].mute = True
    await asyncio.sleep(0.9)
    assert group.fault() is None  # not yet: 1 s without an answer
    await asyncio.sleep(0.4)
    assert group.fault() == p.MODULE_SILENT
    modules[2].mute = False
    await asyncio.sleep(0.3)
    assert group.fault() is None
    group.shutdown()


async def test_error_replies_keep_the_module_alive_but_carry_no_reading() -> None:
    group, modules = _station(1, load=10.0)
    group.set_target(200.0, 10.0)
    group.enable()
    await asyncio.sleep(0.3)
    assert group.measured_voltage_v() == pytest.approx(200.0)
    modules[0].reply_error = p.ERROR_DATA_INVALID
    modules[0].voltage_set_v = 300.0
    await asyncio.sleep(2.0)
    assert group.fault() is None and group.measured_voltage_v() == pytest.approx(200.0)
    group.shutdown()


async def test_two_connectors_share_one_module_bus_through_the_registry() -> None:
    shared: dict[str, object] = {}
    groups = []
    for connector, group_no, addresses in ((1, 1, [0, 1]), (2, 2, [2, 3])):
        ctx = registry.DriverContext(connector_id=connector, shared=shared)
        params = {"interface": "inloop", "channel": "can2", "group": group_no, "modules": addresses}
        groups.append(registry.create("power", "infypower", params, context=ctx))
    from evse.hardware.drivers.builtin import inloop_bus

    bus = inloop_bus(registry.DriverContext(connector_id=0, shared=shared), "can2")
    mods = [
        InfyModuleEmulator(bus.attach(), a, 1 if a < 2 else 2, group_size=2, load_a=lambda v: 30.0) for a in range(4)
    ]
    groups[0].set_target(500.0, 30.0)
    groups[0].enable()
    await asyncio.sleep(0.3)
    assert [m.on for m in mods] == [True, True, False, False]
    assert groups[0].measured_current_a() == pytest.approx(30.0)
    assert groups[1].measured_voltage_v() == 0.0 and groups[1].fault() is None
    for g in groups:
        g.shutdown()


def test_bad_params_are_one_sentence() -> None:
    ctx = registry.DriverContext(connector_id=3)
    with pytest.raises(registry.DriverError, match=r"connector 3: driver 'infypower'.*group"):
        registry.create("power", "infypower", {"interface": "inloop", "group": 99}, context=ctx)
    # 0x3F is the broadcast address, not a module's
    with pytest.raises(registry.DriverError, match=r"connector 3: driver 'infypower'.*modules\[1\]"):
        registry.create("power", "infypower", {"interface": "inloop", "modules": [1, 63]}, context=ctx)


async def test_every_command_goes_to_each_module_by_its_address() -> None:
    frames: list[p.InfyId] = []
    bus = InLoopBus("modules")
    sniffer = bus.attach("sniffer")
    sniffer.set_receiver(lambda frame: frames.append(p.InfyId.decode(frame.arbitration_id)))
    settings = InfyPowerSettings(interface="inloop", channel="modules", group=2, modules=(4, 5))
    module_bus = ModuleBus(bus.attach("controller"))
    group = InfyPowerGroup(module_bus.channel, settings)
    module_bus.attach(group)
    modules = [InfyModuleEmulator(bus.attach(f"m{a}"), a, 2, group_size=2) for a in (4, 5)]
    await asyncio.sleep(0.05)
    # the group starts by commanding its modules off
    first = [f for f in frames if f.source == p.CONTROLLER_ADDRESS][:2]
    assert [(f.command, f.destination) for f in first] == [(p.CMD_SET_ON_OFF, 4), (p.CMD_SET_ON_OFF, 5)]
    group.set_target(400.0, 30.0)
    group.enable()
    await asyncio.sleep(0.3)
    sent = [f for f in frames if f.source == p.CONTROLLER_ADDRESS]
    assert all(f.device == p.DEVICE_SINGLE and f.destination in (4, 5) for f in sent)
    assert {f.command for f in sent} == {
        p.CMD_SET_ON_OFF,
        p.CMD_SET_MODULE_OUTPUT,
        p.CMD_READ_MODULE_OUTPUT,
        p.CMD_READ_MODULE_STATUS,
    }
    # each module regulates its share of the 30 A
    assert [m.current_limit_a for m in modules] == [pytest.approx(15.0), pytest.approx(15.0)]
    assert all(m.on for m in modules)
    group.shutdown()


async def test_a_module_ignores_group_commands_it_has_no_public_definition_for() -> None:
    bus = InLoopBus("modules")
    controller = bus.attach("controller")
    replies: list[p.InfyId] = []
    controller.set_receiver(lambda frame: replies.append(p.InfyId.decode(frame.arbitration_id)))
    module = InfyModuleEmulator(bus.attach("m1"), 1, 3)
    controller.send(p.request(p.CMD_SET_ON_OFF, 3, group=True, data=bytes([p.ON])))
    controller.send(p.request(p.CMD_READ_MODULE_STATUS, 3, group=True))
    controller.send(p.request(p.CMD_SET_SYSTEM_OUTPUT, 3, group=True, data=p.encode_set_output(400, 10)))
    await asyncio.sleep(0.01)
    assert replies == [] and not module.on
    # the broadcast reaches it, and its reply names its own address
    controller.send(p.request(p.CMD_SET_ON_OFF, p.BROADCAST_ADDRESS, group=False, data=bytes([p.ON])))
    await asyncio.sleep(0.01)
    assert module.on and [(r.source, r.destination) for r in replies] == [(1, p.CONTROLLER_ADDRESS)]


async def test_a_module_switches_off_when_the_controller_falls_silent() -> None:
    group, modules = _station(2, load=20.0)
    group.set_target(400.0, 20.0)
    group.enable()
    await asyncio.sleep(1.0)
    assert all(m.on for m in modules)
    group.shutdown()  # the controller stops talking (a crashed daemon)
    await asyncio.sleep(p.MODULE_SILENCE_OFF_S - 1.0)
    assert all(m.on for m in modules)  # not yet: V1.13 gives the controller 10 s
    await asyncio.sleep(1.5)
    assert not any(m.on for m in modules) and [m.silence_offs for m in modules] == [1, 1]


async def test_a_module_in_another_group_is_a_configuration_fault() -> None:
    group, modules = _station(2)
    modules[1].group = 5  # its group dial says 5, the connector's group is 2
    await asyncio.sleep(0.3)
    assert group.fault() == p.GROUP_MISMATCH
    group.enable()
    await asyncio.sleep(0.2)
    assert not any(m.on for m in modules)
    modules[1].group = 2
    await asyncio.sleep(0.3)
    assert group.fault() is None
    group.shutdown()


class _BusOffChannel:
    """A module bus whose controller went bus-off: `send` refuses frames until `off` is cleared."""

    name = "can2"

    def __init__(self) -> None:
        self.off = False
        self.sent = 0

    def send(self, frame: object) -> None:
        from evse.can.channel import CanError

        if self.off:
            raise CanError("CAN channel can2 is bus-off")
        self.sent += 1

    async def recv(self) -> object:
        await asyncio.Event().wait()
        raise AssertionError("never delivers")

    def set_receiver(self, receiver: object) -> None:
        pass

    def close(self) -> None:
        pass


async def test_bus_off_is_a_fault_that_switches_the_group_off_and_clears_on_recovery() -> None:
    channel = _BusOffChannel()
    group = InfyPowerGroup(channel, InfyPowerSettings(modules=(1,), silent_timeout_s=100.0))  # type: ignore[arg-type]
    group.set_target(400.0, 10.0)
    group.enable()
    assert group.enabled()
    heard: list[str | None] = []
    group.add_listener(lambda: heard.append(group.fault()))
    channel.off = True
    await asyncio.sleep(0.15)
    assert group.fault() == "module_bus_error" and "module_bus_error" in heard
    assert not group.enabled()
    channel.off = False
    await asyncio.sleep(0.15)
    assert group.fault() is None and not group.enabled()  # recovered, but stays off until enabled again
