"""Where the development CSMS listens by default (a module of its own so `evse --help` need not import the CSMS)."""

DEFAULT_PORT = 9000
DEFAULT_CONTROL_PORT = 9001
