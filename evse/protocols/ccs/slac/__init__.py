"""SLAC (ISO 15118-3): EVSE role over a raw socket — codec (`messages`), sans-I/O state machine (`evse_role`),
socket layer (`link`)."""
