"""Simulated drivers for every hardware role (registered as driver "sim" by `evse.sim.hardware.drivers`)."""
