"""A test fixture: synthetic charging sessions published as events, the way a station publishes them.

`publish_session(bus, spec)` emits the whole event sequence of one session (pilot reading at plug-in, stage
changes in the standard's plan order, vehicle identity, insulation reading, negotiated limits, 2 Hz meter
samples during energy transfer, handshake trace lines, faults, the end). `plant_fleet()` builds the fleet of the
issue's "done when": good sessions plus three planted causes (worn pins on one connector, one vehicle signature
with a firmware mismatch, insulation declining on another connector).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from evse.session.adapter import PLANS
from evse.session.events import (
    EventBus,
    FaultRaised,
    InsulationMeasured,
    LimitChanged,
    LimitsNegotiated,
    MeterSample,
    PilotQuality,
    SessionEnded,
    SessionStarted,
    StageChanged,
    TraceRecord,
    VehicleIdentified,
)
from evse.session.stages import Outcome, Reason, Stage, StageLog

#: nominal pilot line levels per standard (line name, volts): CCS CP state B high level, GB/T CC1 4 V
PILOT_NOMINAL = {"ccs": ("cp", 9.0), "gbt": ("cc1", 4.0), "chademo": ("pp", 6.0)}
#: how long each handshake stage takes in the synthetic sessions (s)
STAGE_S = 1.5


@dataclass
class SessionSpec:
    session_id: str
    connector_id: int
    standard: str
    t0_s: float
    identity: dict[str, str]
    protocol_version: str
    pilot_v: float | None = None
    insulation_ohm: float = 40e6
    fail_stage: Stage | None = None
    fail_reason: Reason = Reason.TIMEOUT
    fail_detail: str = ""
    energy_s: int = 30
    soc_start_pct: float = 20.0
    fault_at_s: float | None = None  # a fault during energy transfer, seconds after it starts
    fault_code: str = "over_temperature"
    vehicle_max_current_a: float = 200.0
    extra_trace: list[str] = field(default_factory=list)


def publish_session(bus: EventBus, spec: SessionSpec) -> float:
    """Publish one session's events; returns the loop time it ended at."""
    plan = PLANS[spec.standard]
    c, s, t = spec.connector_id, spec.session_id, spec.t0_s
    line, nominal = PILOT_NOMINAL[spec.standard]
    if spec.pilot_v is not None:
        # measured at plug-in, before the station opened the session
        bus.publish(
            PilotQuality(connector_id=c, session_id=None, t_s=t, line=line, voltage_v=spec.pilot_v, nominal_v=nominal)
        )
    bus.publish(SessionStarted(connector_id=c, session_id=s, t_s=t, standard=spec.standard))
    log = StageLog()
    previous = Stage.IDLE
    energy_wh = 0.0
    for stage in plan.stages:
        bus.publish(StageChanged(connector_id=c, session_id=s, t_s=t, stage=stage, previous=previous))
        log.enter(stage, t)
        previous = stage
        if stage is Stage.STOPPING:
            t += 2.0
            continue
        if stage is Stage.UNLOCK:
            t += 0.5
            continue
        if stage is not Stage.ENERGY_TRANSFER:
            for n in range(2):
                bus.publish(
                    TraceRecord(
                        connector_id=c,
                        session_id=s,
                        t_s=t + 0.1 * n,
                        direction="tx" if n else "rx",
                        kind="can",
                        text=f"({t + 0.1 * n:.6f}) can0 1826F456#{stage.value[:4].encode().hex()}",
                    )
                )
        if stage is Stage.BMS_WAKE_UP:
            bus.publish(
                VehicleIdentified(
                    connector_id=c,
                    session_id=s,
                    t_s=t + 0.5,
                    protocol_version=spec.protocol_version,
                    identity=spec.identity,
                )
            )
        if stage is Stage.INSULATION_TEST:
            passed = spec.fail_stage is not Stage.INSULATION_TEST
            bus.publish(
                InsulationMeasured(
                    connector_id=c,
                    session_id=s,
                    t_s=t + 0.5,
                    resistance_ohm=spec.insulation_ohm,
                    test_voltage_v=500.0,
                    passed=passed,
                )
            )
        if stage is Stage.PARAMETER_NEGOTIATION and spec.fail_stage is not Stage.PARAMETER_NEGOTIATION:
            bus.publish(
                LimitsNegotiated(
                    connector_id=c,
                    session_id=s,
                    t_s=t + 0.5,
                    vehicle_max_voltage_v=450.0,
                    vehicle_max_current_a=spec.vehicle_max_current_a,
                    vehicle_max_power_w=None,
                    charger_max_voltage_v=1000.0,
                    charger_max_current_a=200.0,
                    soc_pct=spec.soc_start_pct,
                )
            )
        if stage is spec.fail_stage:
            t += STAGE_S
            return _end(bus, spec, t, log, Outcome.of(stage, spec.fail_reason, spec.fail_detail), energy_wh)
        if stage is Stage.ENERGY_TRANSFER:
            limit = min(spec.vehicle_max_current_a, 200.0)
            bus.publish(
                LimitChanged(
                    connector_id=c, session_id=s, t_s=t, current_limit_a=limit, power_limit_w=None, source="vehicle"
                )
            )
            soc = spec.soc_start_pct
            for k in range(spec.energy_s * 2):  # 2 Hz: the recorder keeps 1 Hz
                now = t + 0.5 * k
                if k == spec.energy_s:  # halfway the cable gets warm
                    limit = 120.0
                    bus.publish(
                        LimitChanged(
                            connector_id=c,
                            session_id=s,
                            t_s=now,
                            current_limit_a=limit,
                            power_limit_w=None,
                            source="cable_temperature",
                        )
                    )
                current = limit
                voltage = 380.0 + soc * 0.5
                energy_wh += voltage * current * 0.5 / 3600.0
                soc += 0.05
                bus.publish(
                    MeterSample(
                        connector_id=c,
                        session_id=s,
                        t_s=now,
                        voltage_v=voltage,
                        current_a=current,
                        power_w=voltage * current,
                        energy_wh=energy_wh,
                        soc_pct=soc,
                        requested_current_a=spec.vehicle_max_current_a,
                        offered_current_a=limit,
                        limit_source="vehicle" if k < spec.energy_s else "cable_temperature",
                        temperatures_c={"cable": 30.0 + k * 0.02},
                    )
                )
                bus.publish(
                    TraceRecord(
                        connector_id=c,
                        session_id=s,
                        t_s=now,
                        direction="rx",
                        kind="can",
                        text=f"({now:.6f}) can0 102#{k:04X}",
                    )
                )
                if spec.fault_at_s is not None and abs(0.5 * k - spec.fault_at_s) < 1e-9:
                    bus.publish(
                        FaultRaised(
                            connector_id=c,
                            session_id=s,
                            t_s=now,
                            code=spec.fault_code,
                            detail="synthetic fault",
                            tripped=True,
                        )
                    )
                    t = now + 0.5
                    return _end(bus, spec, t, log, Outcome.of(stage, Reason.SAFETY_TRIP, spec.fault_code), energy_wh)
            t += spec.energy_s
            continue
        t += STAGE_S
    return _end(bus, spec, t, log, Outcome.of(Stage.ENERGY_TRANSFER, Reason.COMPLETED), energy_wh)


def _end(bus: EventBus, spec: SessionSpec, t: float, log: StageLog, outcome: Outcome, energy_wh: float) -> float:
    log.close(t)
    bus.publish(
        SessionEnded(
            connector_id=spec.connector_id,
            session_id=spec.session_id,
            t_s=t,
            outcome=outcome,
            stage_durations_s=log.durations_s(),
            energy_wh=energy_wh,
        )
    )
    return t


# ---------------------------------------------------------------- the planted fleet
#: connectors of the synthetic station
CONNECTORS = {1: "ccs", 2: "ccs", 3: "chademo", 4: "gbt"}
WORN_CONNECTOR = 2
INSULATION_CONNECTOR = 1
BAD_SIGNATURE = "nissan-leaf-2012-fw0.9"
GOOD_VEHICLES = {
    "ccs": [({"evccid": f"0A1B2C3D4E{n:02X}", "mac": f"02:00:00:00:00:{n:02x}"}, "din70121") for n in range(8)]
    + [({"evccid": f"AA00000000{n:02X}"}, "iso15118-2") for n in range(4)],
    "chademo": [({"signature": f"chademo-car-{n}"}, "1.0") for n in range(6)],
    "gbt": [({"vin": f"LSVAU2180N21834{n:02d}"}, "gbt-2015") for n in range(6)],
}


def good_spec(rng: random.Random, session_id: str, connector_id: int, t0_s: float) -> SessionSpec:
    standard = CONNECTORS[connector_id]
    identity, version = rng.choice(GOOD_VEHICLES[standard])
    _line, nominal = PILOT_NOMINAL[standard]
    return SessionSpec(
        session_id=session_id,
        connector_id=connector_id,
        standard=standard,
        t0_s=t0_s,
        identity=identity,
        protocol_version=version,
        pilot_v=nominal - 0.1 + rng.gauss(0, 0.03),
        insulation_ohm=rng.uniform(20e6, 60e6),
        soc_start_pct=rng.uniform(10, 50),
        energy_s=rng.randint(10, 30),
    )


def good_fleet(bus: EventBus, n_per_connector: int = 30, seed: int = 1, t0_s: float = 0.0) -> float:
    """Only healthy sessions on every connector; returns the last end time."""
    rng = random.Random(seed)
    t = t0_s
    for i in range(n_per_connector):
        for connector_id in CONNECTORS:
            t = publish_session(bus, good_spec(rng, f"good-{seed}-{i}-{connector_id}", connector_id, t + 600.0))
    return t


def plant_fleet(bus: EventBus, n: int = 40, seed: int = 7) -> float:
    """Good sessions on all connectors plus the three planted causes. Returns the last end time."""
    rng = random.Random(seed)
    t = 0.0
    bad_attempts = 0
    for i in range(n):
        frac = i / (n - 1)
        for connector_id, standard in CONNECTORS.items():
            spec = good_spec(rng, f"s{i:03d}-c{connector_id}", connector_id, t + 600.0)
            if connector_id == WORN_CONNECTOR:
                # worn CP contact: the high level sags from 8.9 V to 8.3 V; the last sessions fail to wake the BMS
                spec.pilot_v = 8.9 - 0.6 * frac + rng.gauss(0, 0.02)
                if i >= n - 8 and i % 4 != 1:
                    spec.fail_stage = Stage.BMS_WAKE_UP
                    spec.fail_reason = Reason.TIMEOUT
                    spec.fail_detail = "SLAC: no CM_SLAC_PARM.REQ within 50 s"
            if connector_id == INSULATION_CONNECTOR:
                # insulation declining session over session: 50 MΩ → 0.4 MΩ (fault below 100 Ω/V at 500 V = 50 kΩ
                # is not reached; the warning band is)
                spec.insulation_ohm = 50e6 * (0.4 / 50) ** frac * rng.uniform(0.9, 1.1)
            if standard == "chademo" and i % 8 == 3 and bad_attempts < 5:
                bad_attempts += 1
                spec.identity = {"signature": BAD_SIGNATURE}
                spec.protocol_version = "0.9"
                spec.fail_stage = Stage.PARAMETER_NEGOTIATION
                spec.fail_reason = Reason.VEHICLE_INCOMPATIBLE
                spec.fail_detail = "battery compatibility flag not set in 0x102"
            t = publish_session(bus, spec)
    return t
