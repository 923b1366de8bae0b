"""Bender isoCHA425HV insulation monitor over Modbus RTU."""
