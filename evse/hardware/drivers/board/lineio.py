"""The seam between the board drivers and the GPIO hardware: `LineIO` reads and writes lines by offset, with
logical values (active-low already applied).

`GpiodLines` is the Linux implementation (libgpiod v2 Python bindings, package `gpiod`, on a GPIO character device
`/dev/gpiochipN`). It needs a real GPIO chip (or the kernel's gpio-sim module, absent in containers), so the tests
drive the board drivers through an in-memory `LineIO` instead; this class is deliberately thin.
"""

from __future__ import annotations

from typing import Any, Protocol


class LineIO(Protocol):
    def read(self, offset: int) -> bool: ...
    def write(self, offset: int, value: bool) -> None: ...


class GpiodLines:
    """Lines requested from one GPIO chip: `outputs` and `inputs` map offset → active_low. Outputs start inactive."""

    def __init__(self, chip: str, outputs: dict[int, bool], inputs: dict[int, bool], consumer: str = "evse") -> None:
        import gpiod  # optional dependency: evse[hardware] on Linux
        from gpiod.line import Direction, Value

        self._active = Value.ACTIVE
        self._inactive = Value.INACTIVE
        config: dict[Any, Any] = {}
        for offset, active_low in outputs.items():
            config[offset] = gpiod.LineSettings(
                direction=Direction.OUTPUT, active_low=active_low, output_value=Value.INACTIVE
            )
        for offset, active_low in inputs.items():
            config[offset] = gpiod.LineSettings(direction=Direction.INPUT, active_low=active_low)
        self._request = gpiod.request_lines(chip, consumer=consumer, config=config)

    def read(self, offset: int) -> bool:
        return bool(self._request.get_value(offset) == self._active)

    def write(self, offset: int, value: bool) -> None:
        self._request.set_value(offset, self._active if value else self._inactive)

    def close(self) -> None:
        self._request.release()
