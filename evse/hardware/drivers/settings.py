"""Real hardware drivers: their parameters, declared per `evse.config.meta`.

A connector's `[connectors.hardware.<role>] params = {…}` table is converted into the driver's struct here, so a
typo or an out-of-range value is a one-sentence configuration error naming the key.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from evse.config.meta import Settings, setting


class InfyPowerSettings(Settings, frozen=True):
    """InfyPower REG-family rectifier modules (CAN protocol V1.13; not the BEC/BEG series) in parallel as one group
    feeding one connector (`power_module` role, driver `infypower`)."""

    interface: Annotated[
        str,
        setting(
            "python-can interface of the module bus (`socketcan`, `virtual`); `inloop` = an in-process bus, "
            "`sim` = an in-process bus with emulated modules driving the simulated plant"
        ),
    ] = "socketcan"
    channel: Annotated[str, setting("Channel of the module bus, e.g. `can2` (not the vehicle bus)", min_length=1)] = (
        "can2"
    )
    bitrate: Annotated[int, setting("Module bus bit rate (InfyPower: 125 kbit/s)", "bit/s", ge=0)] = 125_000
    group: Annotated[
        int, setting("Group number set on the modules of this connector (their group dial; status byte 2)", ge=0, le=62)
    ] = 1
    modules: Annotated[
        tuple[Annotated[int, msgspec.Meta(ge=0, le=62)], ...],
        setting("CAN addresses of the modules of this group, 0..62 (63 = broadcast); each must answer", min_length=1),
    ] = (0,)
    module_max_voltage_v: Annotated[float, setting("Highest output voltage of one module", "V", gt=0)] = 1000.0
    module_min_voltage_v: Annotated[float, setting("Lowest regulated output voltage of one module", "V", ge=0)] = 150.0
    module_max_current_a: Annotated[float, setting("Highest output current of one module", "A", gt=0)] = 100.0
    module_max_power_w: Annotated[float, setting("Rated output power of one module", "W", gt=0)] = 30_000.0
    poll_interval_s: Annotated[
        float, setting("Period of the output/status reads (and of the set-point refresh while on)", "s", gt=0)
    ] = 0.1
    silent_timeout_s: Annotated[
        float, setting("A module that has not answered for this long is a fault (module_communication_lost)", "s", gt=0)
    ] = 1.0


class BenderIsoChaSettings(Settings, frozen=True):
    """Bender isoCHA425HV insulation monitor on Modbus RTU over RS-485 (`insulation_monitor` role, driver
    `bender_isocha`)."""

    port: Annotated[str, setting("Serial port of the RS-485 adapter, e.g. `/dev/ttyUSB0`", min_length=1)] = (
        "/dev/ttyUSB0"
    )
    address: Annotated[int, setting("Modbus address of the device (factory setting 3)", ge=1, le=247)] = 3
    baudrate: Annotated[int, setting("Serial speed (factory setting 19200, 8E1)", "bit/s", gt=0)] = 19200
    parity: Annotated[str, setting("Serial parity: `E`, `O` or `N` (factory setting `E`)", pattern="^[EON]$")] = "E"
    poll_interval_s: Annotated[
        float, setting("Period of the measurement reads (the device updates ~1 Hz)", "s", gt=0)
    ] = 0.5
    response_timeout_s: Annotated[float, setting("Wait for one Modbus reply", "s", gt=0)] = 0.3
    failed_polls_for_fault: Annotated[
        int, setting("Consecutive failed reads (no answer, CRC error) that make a device fault", ge=1)
    ] = 3
    self_test_timeout_s: Annotated[float, setting("A self-test not finished after this long has failed", "s", gt=0)] = (
        30.0
    )
    disable_on_stop: Annotated[
        bool, setting("Switch the device's measurement off on stop() (register 3026), on again on start()")
    ] = True


class MeterRegister(Settings, frozen=True):
    """Where one value of a Modbus meter lives and how it is encoded."""

    address: Annotated[int, setting("Register address (0-based, as on the wire)", ge=0, le=65535)]
    type: Annotated[
        Literal["u16", "s16", "u32", "s32", "u64", "s64", "f32", "f64"], setting("Encoding of the value")
    ] = "f32"
    scale: Annotated[float, setting("Multiplier from the raw value to the unit of the value (e.g. 0.001 for mWh)")] = (
        1.0
    )
    word_order: Annotated[
        Literal["big", "little"], setting("`big` = most significant register first (Modbus convention)")
    ] = "big"
    function: Annotated[Literal["holding", "input"], setting("Read with function 3 (holding) or 4 (input)")] = "holding"


def _register(address: int) -> MeterRegister:
    return MeterRegister(address=address)


class ModbusMeterSettings(Settings, frozen=True):
    """A DC energy meter on Modbus TCP or RTU with a configurable register map (`meter` role, driver
    `modbus_meter`). The default map is a placeholder: take the addresses from the meter's manual."""

    transport: Annotated[Literal["tcp", "rtu"], setting("Modbus TCP (Ethernet) or RTU (RS-485)")] = "tcp"
    host: Annotated[str, setting("Meter address for Modbus TCP")] = "192.168.1.20"
    tcp_port: Annotated[int, setting("TCP port for Modbus TCP", ge=1, le=65535)] = 502
    port: Annotated[str, setting("Serial port for Modbus RTU, e.g. `/dev/ttyUSB1`")] = "/dev/ttyUSB1"
    baudrate: Annotated[int, setting("Serial speed for Modbus RTU", "bit/s", gt=0)] = 9600
    parity: Annotated[str, setting("Serial parity for Modbus RTU: `E`, `O` or `N`", pattern="^[EON]$")] = "N"
    unit: Annotated[int, setting("Modbus unit (device) id", ge=0, le=247)] = 1
    energy_wh: Annotated[MeterRegister, setting("Imported energy register; scaled to Wh")] = msgspec.field(
        default_factory=lambda: _register(0)
    )
    voltage_v: Annotated[MeterRegister, setting("DC voltage register; scaled to V")] = msgspec.field(
        default_factory=lambda: _register(2)
    )
    current_a: Annotated[MeterRegister, setting("DC current register; scaled to A")] = msgspec.field(
        default_factory=lambda: _register(4)
    )
    ocmf_address: Annotated[
        int, setting("First register of the signed OCMF record (ASCII, 2 characters per register); -1 = none", ge=-1)
    ] = -1
    ocmf_registers: Annotated[int, setting("Length of the OCMF record area in registers", ge=0, le=2000)] = 0
    poll_interval_s: Annotated[float, setting("Period of the reads", "s", gt=0)] = 1.0
    response_timeout_s: Annotated[float, setting("Wait for one Modbus reply", "s", gt=0)] = 0.5
    failed_polls_for_fault: Annotated[int, setting("Failed reads in a row that make a meter fault", ge=1)] = 3


class GpioContactorsSettings(Settings, frozen=True):
    """Output contactors on GPIO lines with mirror contacts, and the vehicle-side voltage on an IIO ADC channel
    (`contactors` role, driver `gpio`)."""

    chip: Annotated[str, setting("GPIO character device, e.g. `/dev/gpiochip0`", min_length=1)] = "/dev/gpiochip0"
    close_lines: Annotated[tuple[int, ...], setting("Output lines driving the contactor coils (DC+, DC−)")] = ()
    feedback_lines: Annotated[tuple[int, ...], setting("Input lines of the mirror contacts, one per contactor")] = ()
    feedback_active_low: Annotated[bool, setting("Mirror contacts read low when the contactor is closed")] = False
    vehicle_voltage_adc: Annotated[
        str,
        setting(
            "IIO raw file of the vehicle-side voltage sense, e.g. `/sys/bus/iio/devices/iio:device0/in_voltage1_raw`"
        ),
    ] = ""
    vehicle_voltage_divider: Annotated[float, setting("Ratio of the voltage divider in front of the ADC", gt=0)] = 1.0
    feedback_timeout_s: Annotated[
        float, setting("Mirror contacts must follow a command within this time, else a hardware fault", "s", gt=0)
    ] = 0.2
    poll_interval_s: Annotated[float, setting("Period of the input reads", "s", gt=0)] = 0.01


class GpioLockSettings(Settings, frozen=True):
    """Connector lock actuator on a GPIO line with a feedback switch (`lock` role, driver `gpio`)."""

    chip: Annotated[str, setting("GPIO character device", min_length=1)] = "/dev/gpiochip0"
    line: Annotated[int, setting("Output line: active = lock", ge=0)] = 0
    feedback_line: Annotated[int, setting("Input line of the lock feedback switch: active = locked", ge=0)] = 1
    feedback_active_low: Annotated[bool, setting("The feedback switch reads low when locked")] = False
    feedback_timeout_s: Annotated[
        float, setting("The feedback must follow a lock/unlock command within this time, else a fault", "s", gt=0)
    ] = 1.0
    poll_interval_s: Annotated[float, setting("Period of the feedback reads", "s", gt=0)] = 0.05


class GpioEmergencyStopSettings(Settings, frozen=True):
    """Emergency stop button on a GPIO input (`emergency_stop` role, driver `gpio`)."""

    chip: Annotated[str, setting("GPIO character device", min_length=1)] = "/dev/gpiochip0"
    line: Annotated[int, setting("Input line of the e-stop contact", ge=0)] = 0
    active_low: Annotated[
        bool, setting("Pressed when the line reads low (a normally-closed contact: a broken wire reads pressed)")
    ] = True
    poll_interval_s: Annotated[float, setting("Period of the input reads", "s", gt=0)] = 0.01


class GpioVehicleLinesSettings(Settings, frozen=True):
    """CHAdeMO / GB/T auxiliary lines on GPIO and CC1 on an IIO ADC channel (`lines` role, driver `gpio`).
    A line number of -1 means the line is not wired."""

    chip: Annotated[str, setting("GPIO character device", min_length=1)] = "/dev/gpiochip0"
    d1: Annotated[int, setting("CHAdeMO d1 output (charger start signal 1)", ge=-1)] = -1
    d2: Annotated[int, setting("CHAdeMO d2 output (charger start signal 2)", ge=-1)] = -1
    aux_12v: Annotated[int, setting("GB/T 12 V auxiliary supply output", ge=-1)] = -1
    aux_24v: Annotated[int, setting("GB/T 24 V auxiliary supply output", ge=-1)] = -1
    k: Annotated[int, setting("CHAdeMO k input (vehicle charge permission)", ge=-1)] = -1
    connected: Annotated[int, setting("CHAdeMO connection-check input", ge=-1)] = -1
    inputs_active_low: Annotated[bool, setting("The k / connected inputs read low when active (opto-couplers)")] = False
    cc1_adc: Annotated[str, setting("IIO raw file of the GB/T CC1 detection point 1 voltage; empty = not wired")] = ""
    cc1_divider: Annotated[float, setting("Ratio of the voltage divider in front of the CC1 ADC", gt=0)] = 1.0
    poll_interval_s: Annotated[float, setting("Period of the input reads", "s", gt=0)] = 0.01


class Pn532Settings(Settings, frozen=True):
    """NXP PN532 RFID reader (ISO 14443 type A cards) on a UART."""

    port: Annotated[str, setting("Serial port of the reader, e.g. `/dev/ttyS1`", min_length=1)] = "/dev/ttyS1"
    baudrate: Annotated[int, setting("HSU speed (PN532 default 115200)", "bit/s", gt=0)] = 115_200
    poll_interval_s: Annotated[float, setting("Pause between two card searches", "s", gt=0)] = 0.3
    response_timeout_s: Annotated[float, setting("Wait for the reader's ACK and again for its answer", "s", gt=0)] = 0.3
    failed_commands_for_fault: Annotated[
        int, setting("Commands in a row without a valid answer that make a reader fault", ge=1)
    ] = 3
    card_repeat_s: Annotated[
        float, setting("A card held on the reader is reported again after this long", "s", gt=0)
    ] = 5.0


class IioTemperaturesSettings(Settings, frozen=True):
    """Connector/cable temperature sensors read through the kernel IIO interface (`temperatures` role, driver
    `iio`): each sensor is an `in_tempN_input` file (milli-°C) or an `in_tempN_raw` file with its scale/offset."""

    sensors: Annotated[
        dict[str, str],
        setting('Sensor name → IIO file, e.g. `{ dc_plus = "/sys/bus/iio/devices/iio:device1/in_temp0_input" }`'),
    ] = {}
    poll_interval_s: Annotated[float, setting("Period of the reads", "s", gt=0)] = 0.5


class SysfsPilotSettings(Settings, frozen=True):
    """CCS control pilot on a custom board (`pilot` role, driver `sysfs`): the CP generator on a Linux PWM channel
    (sysfs), the CP high level (from the board's peak detector), optionally the CP low level and the PP voltage on
    IIO ADC channels."""

    pwm_chip: Annotated[str, setting("sysfs PWM chip, e.g. `/sys/class/pwm/pwmchip0`", min_length=1)] = (
        "/sys/class/pwm/pwmchip0"
    )
    pwm_channel: Annotated[int, setting("PWM channel of the CP generator", ge=0)] = 0
    cp_high_adc: Annotated[str, setting("IIO raw file of the CP high-level sense", min_length=1)] = (
        "/sys/bus/iio/devices/iio:device0/in_voltage0_raw"
    )
    cp_low_adc: Annotated[str, setting("IIO raw file of the CP low-level sense (diode check); empty = none")] = ""
    cp_gain: Annotated[float, setting("CP volts per ADC volt after removing the level shift")] = 6.0
    cp_adc_offset_v: Annotated[float, setting("ADC voltage that means CP 0 V (the level shift)", "V")] = 1.65
    pp_adc: Annotated[str, setting("IIO raw file of the PP sense; empty = no PP")] = ""
    pp_reference_v: Annotated[float, setting("Voltage the PP pull-up resistor is tied to", "V", gt=0)] = 3.3
    pp_pullup_ohm: Annotated[float, setting("PP pull-up resistor on the board", "Ω", gt=0)] = 1000.0
    pp_open_fraction: Annotated[
        float, setting("PP reads open (no plug) above this fraction of the reference voltage", gt=0, lt=1)
    ] = 0.95
    poll_interval_s: Annotated[float, setting("Period of the CP/PP reads", "s", gt=0)] = 0.01
