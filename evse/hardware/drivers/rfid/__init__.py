"""RFID readers for ISO 14443 cards: NXP PN532 over UART."""
