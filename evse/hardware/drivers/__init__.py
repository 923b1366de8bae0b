"""Real hardware drivers (InfyPower rectifiers, Bender IMD, Modbus meter, …), each with a device emulator in
`evse.hardware.drivers.emulators`. `evse.hardware.drivers.builtin` registers them with the hardware registry;
drivers that need an optional library (pymodbus, gpiod) import it only when created."""
