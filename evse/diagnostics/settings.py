"""`evse diagnose`: thresholds of the finding rules (declared per `evse.config.meta`)."""

from __future__ import annotations

from typing import Annotated

from evse.config.meta import Settings, setting


class DiagnosticsSettings(Settings, frozen=True):
    """Rules that turn stored sessions into findings."""

    trend_window_sessions: Annotated[
        int, setting("Trend rules look at this many most recent sessions per connector", "", ge=4)
    ] = 200
    trend_min_sessions: Annotated[int, setting("Fewest sessions on a connector before a trend is judged", "", ge=4)] = (
        10
    )
    trend_edge_sessions: Annotated[
        int, setting("Sessions at each end of the window whose median is compared (at most a quarter)", "", ge=2)
    ] = 8
    pilot_drift_v: Annotated[
        float, setting("A pilot line level (CP high, PP, CC1) moving this much is a finding", "V", gt=0)
    ] = 0.3
    insulation_decline_ratio: Annotated[
        float,
        setting("Insulation resistance falling to this share of its earlier level is a finding", "", gt=0, lt=1),
    ] = 0.25
    incompatible_min_attempts: Annotated[
        int, setting("Fewest attempts by one vehicle before an incompatibility is judged", "", ge=2)
    ] = 3
    incompatible_failure_share: Annotated[
        float, setting("Share of one vehicle's attempts failing at the same stage that is a finding", "", gt=0, le=1)
    ] = 0.8
    others_success_share: Annotated[
        float,
        setting("Other vehicles must succeed this often on the same connectors to blame the vehicle", "", ge=0, le=1),
    ] = 0.5
    recurring_fault_count: Annotated[
        int, setting("A fault code this often on one connector is a finding", "", ge=2)
    ] = 3
    connector_min_failures: Annotated[
        int, setting("Fewest failures in one stage before a connector is singled out", "", ge=2)
    ] = 5
    connector_failure_share: Annotated[
        float, setting("Share of a connector's sessions failing in one stage that singles it out", "", gt=0, le=1)
    ] = 0.1
    connector_failure_ratio: Annotated[
        float, setting("How many times the other connectors' rate for the same stage that is", "", gt=1)
    ] = 3.0
