"""Exit codes of `evse` (documented in docs/deployment.md; values from sysexits.h where one fits).

systemd's `Restart=on-failure` restarts on any non-zero code except those in `RestartPreventExitStatus=` —
the unit lists 64 and 78 there: a bad command line or configuration will not fix itself by restarting.
"""

from __future__ import annotations

from evse.config.errors import EXIT_CONFIG, EXIT_USAGE

#: stopped on request (SIGTERM/SIGINT), every service stopped within its bound
EXIT_OK = 0
#: stopped because something failed at run time (a control loop dead too long, a service not stopping in time,
#: the safe state not reachable); the outputs were driven to the safe state on the way out
EXIT_FAILURE = 1
#: a service could not start (driver missing, CAN interface absent, port in use)
EXIT_UNAVAILABLE = 69
#: the CSMS asked for a reset (OCPP Reset): every service stopped safely; systemd starts the daemon again
EXIT_RESTART = 75  # sysexits.h EX_TEMPFAIL
#: an internal error (a bug): the traceback is logged
EXIT_SOFTWARE = 70

__all__ = ["EXIT_CONFIG", "EXIT_FAILURE", "EXIT_OK", "EXIT_RESTART", "EXIT_SOFTWARE", "EXIT_UNAVAILABLE", "EXIT_USAGE"]
