"""Device emulators: they speak a real device's protocol on a real transport (CAN bus, pty, Modbus) so the drivers
are tested end to end, and can inject that device's faults. Used by tests/hardware and by the simulated station
(`interface = "inloop"` module buses)."""
