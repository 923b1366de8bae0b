"""A serial cable between two programs in one process: two pty pairs joined by a relay in the event loop.

The driver opens `driver_port`, the emulated device opens `device_port` (both are real tty paths, so pyserial
and pymodbus use them like an RS-485 adapter). The relay copies bytes between the two pty masters and is where
line faults are injected: `mute` drops everything the device sends (no answer), `corrupt` flips a bit in every
chunk the device sends (a CRC or checksum error at the driver).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import termios


def _no_line_discipline(fd: int) -> None:
    """No echo, no line editing, no CR/LF translation before pyserial opens the port (`tty.setraw` would also
    reset the character size bits, after which Linux refuses pyserial's parity setting)."""
    attrs = termios.tcgetattr(fd)
    attrs[0] &= ~(termios.ICRNL | termios.IXON | termios.INLCR | termios.IGNCR)
    attrs[1] &= ~termios.OPOST
    attrs[3] &= ~(termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
    termios.tcsetattr(fd, termios.TCSANOW, attrs)


class PtyLink:
    def __init__(self) -> None:
        self._driver_master, self._driver_slave = os.openpty()
        self._device_master, self._device_slave = os.openpty()
        for fd in (self._driver_slave, self._device_slave):
            _no_line_discipline(fd)
        self.driver_port = os.ttyname(self._driver_slave)
        self.device_port = os.ttyname(self._device_slave)
        self.mute = False
        self.corrupt = False
        self.bytes_to_device = 0
        self.bytes_to_driver = 0
        self._loop = asyncio.get_running_loop()
        for fd in (self._driver_master, self._device_master):
            os.set_blocking(fd, False)
        self._loop.add_reader(self._driver_master, self._relay, self._driver_master, self._device_master)
        self._loop.add_reader(self._device_master, self._relay, self._device_master, self._driver_master)

    def _relay(self, source: int, sink: int) -> None:
        try:
            data = os.read(source, 4096)
        except (BlockingIOError, OSError):
            return
        if source == self._device_master:
            if self.mute:
                return
            if self.corrupt and data:
                # one flipped bit mid-chunk: breaks a Modbus CRC or a PN532 checksum wherever the frame boundaries are
                middle = len(data) // 2
                data = data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]
            self.bytes_to_driver += len(data)
        else:
            self.bytes_to_device += len(data)
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(sink, data)

    def close(self) -> None:
        for fd in (self._driver_master, self._device_master):
            self._loop.remove_reader(fd)
        for fd in (self._driver_master, self._device_master, self._driver_slave, self._device_slave):
            with contextlib.suppress(OSError):
                os.close(fd)
