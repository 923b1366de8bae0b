"""DC energy meters on Modbus with a configurable register map."""
