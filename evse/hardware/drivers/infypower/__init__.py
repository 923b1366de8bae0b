"""InfyPower REG/BEG rectifier modules over CAN: protocol, group driver and the shared module bus."""
