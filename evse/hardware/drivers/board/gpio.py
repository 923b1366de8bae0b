"""Generic board drivers on GPIO lines and IIO ADC channels: contactors with mirror contacts, lock with feedback,
emergency stop and the CHAdeMO / GB/T auxiliary lines.

Commands write the output line at once (sync, non-blocking); inputs are read by a `Poller` on loop time and the
listeners hear every change. Feedback supervision (`FeedbackWatch`): mirror contacts or lock feedback that do not
follow the command within their timeout make `fault()` return "contactor_feedback_timeout" /
"lock_feedback_timeout" (and the listeners are told); the safety supervisor also sees `feedback_closed()` itself
(welded / dropped contactors).
"""

from __future__ import annotations

import asyncio

from evse.hardware.drivers.board.iio import IioError, IioVoltage
from evse.hardware.drivers.board.lineio import LineIO
from evse.hardware.drivers.board.poller import FeedbackWatch, Poller
from evse.hardware.drivers.settings import (
    GpioContactorsSettings,
    GpioEmergencyStopSettings,
    GpioLockSettings,
    GpioVehicleLinesSettings,
)
from evse.hardware.roles import Listener

CONTACTOR_FEEDBACK_TIMEOUT = "contactor_feedback_timeout"
LOCK_FEEDBACK_TIMEOUT = "lock_feedback_timeout"
ADC_FAULT = "adc_unreadable"


class GpioContactors:
    def __init__(self, io: LineIO, settings: GpioContactorsSettings, vehicle_voltage: IioVoltage | None) -> None:
        self.io = io
        self.settings = settings
        self.vehicle_voltage = vehicle_voltage
        self._loop = asyncio.get_running_loop()
        self._watch = FeedbackWatch(settings.feedback_timeout_s)
        self._feedback = self._read_feedback()
        self._voltage_v = 0.0
        self._adc_fault = False
        self._poller = Poller(self._tick, settings.poll_interval_s, "gpio-contactors")

    def close(self) -> None:
        for line in self.settings.close_lines:
            self.io.write(line, True)
        self._watch.command(True, self._loop.time())

    def open(self) -> None:
        for line in self.settings.close_lines:
            self.io.write(line, False)
        self._watch.command(False, self._loop.time())

    def commanded_closed(self) -> bool:
        return self._watch.commanded

    def feedback_closed(self) -> bool:
        return self._feedback

    def vehicle_side_voltage_v(self) -> float:
        return self._voltage_v

    def add_listener(self, listener: Listener) -> None:
        self._poller.listeners.append(listener)

    def fault(self) -> str | None:
        if self._watch.timed_out:
            return CONTACTOR_FEEDBACK_TIMEOUT
        return ADC_FAULT if self._adc_fault else None

    def shutdown(self) -> None:
        self._poller.close()

    def _read_feedback(self) -> bool:
        return any(self.io.read(line) for line in self.settings.feedback_lines)

    def _tick(self) -> bool:
        feedback = self._read_feedback()
        changed = feedback != self._feedback
        self._feedback = feedback
        changed |= self._watch.check(feedback, self._loop.time())
        if self.vehicle_voltage is not None:
            try:
                voltage = self.vehicle_voltage.voltage_v()
            except IioError:
                changed |= not self._adc_fault
                self._adc_fault = True
            else:
                changed |= self._adc_fault or abs(voltage - self._voltage_v) > 0.0
                self._adc_fault = False
                self._voltage_v = voltage
        return changed


class GpioLock:
    def __init__(self, io: LineIO, settings: GpioLockSettings) -> None:
        self.io = io
        self.settings = settings
        self._loop = asyncio.get_running_loop()
        self._watch = FeedbackWatch(settings.feedback_timeout_s)
        self._locked = io.read(settings.feedback_line)
        self._poller = Poller(self._tick, settings.poll_interval_s, "gpio-lock")

    def lock(self) -> None:
        self.io.write(self.settings.line, True)
        self._watch.command(True, self._loop.time())

    def unlock(self) -> None:
        self.io.write(self.settings.line, False)
        self._watch.command(False, self._loop.time())

    def locked(self) -> bool:
        return self._locked

    def fault(self) -> str | None:
        return LOCK_FEEDBACK_TIMEOUT if self._watch.timed_out else None

    def add_listener(self, listener: Listener) -> None:
        self._poller.listeners.append(listener)

    def shutdown(self) -> None:
        self._poller.close()

    def _tick(self) -> bool:
        locked = self.io.read(self.settings.feedback_line)
        changed = locked != self._locked
        self._locked = locked
        return self._watch.check(locked, self._loop.time()) or changed


class GpioEmergencyStop:
    def __init__(self, io: LineIO, settings: GpioEmergencyStopSettings) -> None:
        self.io = io
        self.settings = settings
        self._pressed = io.read(settings.line)
        self._poller = Poller(self._tick, settings.poll_interval_s, "gpio-estop")

    def pressed(self) -> bool:
        return self._pressed

    def add_listener(self, listener: Listener) -> None:
        self._poller.listeners.append(listener)

    def shutdown(self) -> None:
        self._poller.close()

    def _tick(self) -> bool:
        pressed = self.io.read(self.settings.line)
        changed = pressed != self._pressed
        self._pressed = pressed
        return changed


OUTPUT_LINES = ("d1", "d2", "aux_12v", "aux_24v")
INPUT_LINES = ("k", "connected")


class GpioVehicleLines:
    def __init__(self, io: LineIO, settings: GpioVehicleLinesSettings, cc1: IioVoltage | None) -> None:
        self.io = io
        self.settings = settings
        self.cc1 = cc1
        self._outputs = {name: False for name in OUTPUT_LINES}
        self._inputs = {name: False for name in INPUT_LINES}
        self._cc1_v = 0.0
        self._tick()
        self._poller = Poller(self._tick, settings.poll_interval_s, "gpio-vehicle-lines")

    def _offset(self, line: str) -> int:
        offset = getattr(self.settings, line, -1) if line in OUTPUT_LINES + INPUT_LINES else -1
        if offset < 0:
            raise ValueError(f"vehicle line {line!r} is not wired on this board (set it in the lines params)")
        return int(offset)

    def set_output(self, line: str, on: bool) -> None:
        self.io.write(self._offset(line), on)
        self._outputs[line] = on

    def output(self, line: str) -> bool:
        return self._outputs.get(line, False)

    def input_active(self, line: str) -> bool:
        return self._inputs.get(line, False)

    def input_voltage_v(self, line: str) -> float:
        if line != "cc1" or self.cc1 is None:
            raise ValueError(
                f"vehicle line {line!r} has no ADC channel on this board (set cc1_adc in the lines params)"
            )
        return self._cc1_v

    def add_listener(self, listener: Listener) -> None:
        self._poller.listeners.append(listener)

    def shutdown(self) -> None:
        self._poller.close()

    def _tick(self) -> bool:
        changed = False
        for name in INPUT_LINES:
            offset = getattr(self.settings, name)
            if offset >= 0:
                value = self.io.read(offset)
                changed |= value != self._inputs[name]
                self._inputs[name] = value
        if self.cc1 is not None:
            try:
                voltage = self.cc1.voltage_v()
            except IioError:
                voltage = 0.0  # an unreadable CC1 reads as "no vehicle": GB/T then refuses to start
            changed |= voltage != self._cc1_v
            self._cc1_v = voltage
        return changed
