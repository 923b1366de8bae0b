"""Parameters of the Yeti-family board drivers (`driver = "yeti"` for the pilot, contactors, lock and
temperatures roles). Every role's `params` carry the board's link settings (the same for all roles on one port:
the first role created opens the board) and the role's own settings."""

from __future__ import annotations

from typing import Annotated, Literal

from evse.config.meta import Settings, setting

#: `port = "sim"`: an in-process emulated board driving the connector's simulated plant (no serial port)
SIM_PORT = "sim"


class YetiBoardSettings(Settings, frozen=True):
    """The UART link to the board's MCU and the link supervision."""

    port: Annotated[
        str, setting('Serial port of the board\'s MCU UART, e.g. `/dev/ttyS3`; `"sim"` = emulated board', min_length=1)
    ] = "/dev/ttyUSB0"
    baudrate: Annotated[int, setting("UART speed (the firmware's default is 115200 8N1)", "bit/s", gt=0)] = 115_200
    keep_alive_interval_s: Annotated[
        float, setting("Period of our KeepAlive to the board (the EVerest driver sends one per second)", "s", gt=0)
    ] = 1.0
    keep_alive_timeout_s: Annotated[
        float,
        setting(
            "No valid frame from the board for this long is the fault board_communication_lost (EVerest: 5 s)",
            "s",
            gt=0,
        ),
    ] = 5.0
    reset_on_start: Annotated[
        bool, setting("Soft-reset the MCU when the driver starts, so it begins in a known state (outputs off)")
    ] = True
    reset_timeout_s: Annotated[
        float, setting("Wait for the board's reset report after our reset command (EVerest: 1 s)", "s", gt=0)
    ] = 1.0
    hardware_revision: Annotated[
        Literal["unknown", "A", "B"], setting("Board hardware revision, sent when the MCU asks for its configuration")
    ] = "B"
    cp_voltage_scale_v: Annotated[
        float,
        setting(
            "Volts per unit of Telemetry.cp_voltage_hi/lo (the proto does not state the unit: millivolts assumed; "
            "check against your firmware)",
            "V",
            gt=0,
        ),
    ] = 0.001


class YetiPilotSettings(YetiBoardSettings, frozen=True):
    """Control pilot and PP of one connector (`pilot` role, driver `yeti`)."""

    connector: Annotated[int, setting("Connector of the board (1 or 2)", ge=1, le=2)] = 1


class YetiContactorsSettings(YetiBoardSettings, frozen=True):
    """DC output contactors of one connector, switched by the board's coil driver (`contactors` role, driver
    `yeti`). The board reports each coil change back (`set_coil_state_response`): that is the feedback."""

    connector: Annotated[int, setting("Connector of the board (1 or 2)", ge=1, le=2)] = 1
    coil: Annotated[
        Literal["dc1", "dc2", "dc3", "ac"], setting("Relay driver of the board that switches the DC contactors")
    ] = "dc1"
    feedback_timeout_s: Annotated[
        float, setting("The board must report the coil state within this time after a command, else a fault", "s", gt=0)
    ] = 0.5
    vehicle_voltage_adc: Annotated[
        str,
        setting(
            "IIO raw file of the vehicle-side voltage sense (the board does not measure DC voltage); required on "
            "hardware"
        ),
    ] = ""
    vehicle_voltage_divider: Annotated[float, setting("Ratio of the voltage divider in front of the ADC", gt=0)] = 1.0


class YetiLockSettings(YetiBoardSettings, frozen=True):
    """The board's motor lock on one connector (`lock` role, driver `yeti`)."""

    connector: Annotated[int, setting("Connector of the board (1 or 2)", ge=1, le=2)] = 1
    feedback_timeout_s: Annotated[
        float,
        setting(
            "The board's lock state must follow a lock/unlock command within this time (the firmware drives the "
            "motor for about 1 s), else a fault",
            "s",
            gt=0,
        ),
    ] = 2.0
    motor_lock_type: Annotated[
        Literal["none", "qwello", "valeo_hvac"],
        setting("Type of the motor lock, sent in the boot configuration the MCU asks for (`none`: no lock driven)"),
    ] = "none"


class YetiTemperaturesSettings(YetiBoardSettings, frozen=True):
    """The board's temperature inputs (`temperatures` role, driver `yeti`): raw 12-bit readings of a 3.3 V ADC,
    turned into °C with the linear sensor law of the EVerest phyverso_cli tool (°C = slope × V + offset)."""

    sensors: Annotated[
        tuple[str, ...],
        setting('Names of the board\'s temperature channels in order, e.g. `["dc_plus", "dc_minus"]`; "" = unused'),
    ] = ("dc_plus", "dc_minus")
    adc_reference_v: Annotated[float, setting("ADC reference voltage", "V", gt=0)] = 3.3
    adc_bits: Annotated[int, setting("ADC resolution", "bit", ge=8, le=24)] = 12
    slope_c_per_v: Annotated[float, setting("Sensor law: °C per volt", "°C/V")] = -31.0
    offset_c: Annotated[float, setting("Sensor law: °C at 0 V", "°C")] = 92.8
