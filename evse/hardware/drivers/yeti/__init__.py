"""Pionix Yeti-family control board (the phyVERSO MCU protocol): CP, PP, DC contactor coils, motor lock and
temperatures of up to two connectors over one UART (COBS-framed protobuf messages). See docs/hardware.md."""
