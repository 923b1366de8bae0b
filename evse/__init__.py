"""Charger-side controller daemon for DC fast chargers (CCS, CHAdeMO, GB/T 27930) with OCPP."""

__version__ = "0.1.0"
