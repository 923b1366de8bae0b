"""`evse sim`: the station from a configuration, simulated vehicles from a scenario, a live view, a summary.

    evse sim [--config config/sim.toml] [--scenario FILE] [--speed N|max] [--seed N] [--plain]
             [--no-ocpp | --csms URL]
    evse sim --list-profiles | --list-faults

Without `--scenario` it plays `scenarios/demo.toml` next to the configuration file. `--speed max` (the default)
runs on the virtual clock — a 30-minute session in seconds, the same result for the same seed; `--speed N` runs
N× real time (`--speed 1` is real time, for watching or for a CCS vehicle whose EVCC keeps real-time timers).

With `[ocpp] enabled` (config/sim.toml has it) the station's OCPP client talks to the development CSMS, served in
the simulation's own event loop, and its message log appears among the notes (`--no-ocpp`: no OCPP at all;
`--csms URL`: an external CSMS instead, at --speed 1 or another factor, not on the virtual clock).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import dataclasses
import importlib
import sys
from pathlib import Path
from typing import Any

from evse.config.errors import UserError
from evse.gcfreeze import freeze_loaded_objects
from evse.session.events import EventBus
from evse.sim import faults
from evse.sim.profile import ProfileError, builtin_profiles, load_profile
from evse.sim.runner import ScenarioRunner, SessionRecord
from evse.sim.scenario import Scenario, ScenarioError, ScenarioEvent, load_scenario
from evse.sim.timescale import new_loop
from evse.sim.vehicles import VehicleError, vehicle_kind
from evse.sim.view import LiveView, summary
from evse.sim.world import SimWorld, activate

DEFAULT_CONFIG = "config/sim.toml"
#: how long the station may take to end its sessions when the scenario is over (simulated seconds)
STATION_STOP_TIMEOUT_S = 30.0
#: on a terminal, the notes under the table get this many more lines when the CSMS's log shares them
OCPP_EXTRA_NOTE_LINES = 6


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="run the station with simulated vehicles from a scenario, with a live view and a summary (the demo)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"configuration file (default {DEFAULT_CONFIG})")
    parser.add_argument("--scenario", help="scenario file (default: scenarios/demo.toml next to the configuration)")
    parser.add_argument("--speed", default="max", help="'max' (virtual clock, default) or a factor of real time")
    parser.add_argument("--seed", type=int, help="seed of the simulation (default: [sim] seed of the configuration)")
    parser.add_argument("--plain", action="store_true", help="plain lines even on a terminal")
    parser.add_argument(
        "--log-level",
        default="warning",
        choices=("debug", "info", "warning", "error"),
        help="daemon log lines (to stderr) at or above this level (default warning: the view stays readable)",
    )
    ocpp = parser.add_mutually_exclusive_group()
    ocpp.add_argument(
        "--no-ocpp", action="store_true", help="run without the OCPP client and the in-process development CSMS"
    )
    ocpp.add_argument(
        "--csms",
        metavar="URL",
        help="connect the OCPP client to this CSMS (e.g. a running `evse csms`) instead of in-process",
    )
    parser.add_argument("--list-profiles", action="store_true", help="list the vehicle profiles and exit")
    parser.add_argument("--list-faults", action="store_true", help="list the injectable faults and exit")
    parser.set_defaults(func=run_command)
    from evse.sim import remote  # `evse sim plug|unplug|fault|clear-fault|profiles|faults`: a running daemon's sim

    remote.register(parser)


def parse_speed(text: str) -> float | None:
    """None for "max" (virtual clock), else the factor of real time."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise UserError(f"--speed {text!r} is neither 'max' nor a number; use e.g. --speed max or --speed 60") from None
    if not speed > 0:
        raise UserError(f"--speed must be above 0 (got {text}); use e.g. --speed 10")
    return speed


def run_command(args: argparse.Namespace) -> int:
    if args.list_profiles:
        for name in builtin_profiles():
            profile = load_profile(name)
            print(f"{name:22s} {profile.standard:8s} {profile.name} — {profile.description}")
        return 0
    if args.list_faults:
        for spec in faults.catalogue():
            params = ", ".join(f"{k}={v!r}" for k, v in spec.params.items())
            print(f"{spec.name:26s} {spec.description}" + (f" [{params}]" if params else ""))
        return 0
    from evse.config.schema import load_config

    config = load_config(args.config)
    scenario_path = args.scenario or str(Path(args.config).parent / "scenarios" / "demo.toml")
    try:
        scenario = load_scenario(scenario_path)
    except ScenarioError as exc:
        raise UserError(str(exc)) from None
    speed = parse_speed(args.speed)
    scenario = with_configured_vehicles(scenario, config)
    scenario, warnings = check_scenario(scenario, config, speed)
    for warning in warnings:
        print(f"evse sim: {warning}", file=sys.stderr)
    ocpp = ocpp_options(args, config, speed)
    quiet_logging(args.log_level)
    seed = config.sim.seed if args.seed is None else args.seed
    world = SimWorld(config.sim, seed)
    loop = new_loop(speed)
    activate(world)
    try:
        asyncio.set_event_loop(loop)
        from evse.clock import set_wall_epoch

        set_wall_epoch(loop)
        records = loop.run_until_complete(simulate(config, scenario, world, plain=args.plain, ocpp=ocpp))
    finally:
        activate(None)
        asyncio.set_event_loop(None)
        loop.close()
    print()
    print(summary(records))
    if ocpp is not None and ocpp.summary:
        print()
        print(ocpp.summary)
    return 0


@dataclasses.dataclass
class OcppOptions:
    """OCPP in a simulation: the in-process development CSMS (no `csms_url`) or an external CSMS."""

    csms_url: str | None = None
    #: filled at the end of the run: what the in-process CSMS received, as a summary and as (cp, action, payload)
    summary: str = ""
    received: list[tuple[str, str, dict[str, Any]]] = dataclasses.field(default_factory=list)


def ocpp_options(args: argparse.Namespace, config: Any, speed: float | None) -> OcppOptions | None:
    if args.no_ocpp:
        return None
    if args.csms:
        if speed is None:
            raise UserError(
                "--csms connects over a real socket, which the virtual clock of --speed max cannot wait for; "
                "add --speed 1 (or another factor), or leave --csms out to use the in-process development CSMS."
            )
        return OcppOptions(csms_url=args.csms)
    return OcppOptions() if config.ocpp.enabled else None


def quiet_logging(level: str) -> None:
    """Daemon logs go to stderr at `level` (stdout is the view's); `transitions` logs every state change at INFO."""
    import logging

    from evse.logsetup import configure_logging

    configure_logging(level=level, format_name="console", stream=sys.stderr)
    logging.getLogger("transitions").setLevel(max(logging.WARNING, logging.getLevelName(level.upper())))


def with_configured_vehicles(scenario: Scenario, config: Any) -> Scenario:
    """Connectors the scenario leaves alone but whose configuration names a `vehicle` get that vehicle at t = 0."""
    used = scenario.connectors()
    extra: list[ScenarioEvent] = []
    index = max((e.index for e in scenario.events), default=0)
    for connector in config.connectors:
        name = getattr(connector, "vehicle", None)
        if name is None or connector.id in used:
            continue
        try:
            profile = load_profile(name)
        except ProfileError as exc:
            raise UserError(f"connector {connector.id}: {exc}") from None
        index += 1
        extra.append(ScenarioEvent(index, "plug", connector.id, at_s=0.0, profile=profile))
    return dataclasses.replace(scenario, events=(*scenario.events, *extra)) if extra else scenario


def _reclaim_logging() -> None:
    """Libraries imported while the station is built (iso15118) put their own handler on the root logger."""
    import logging

    from evse.logsetup import reclaim_root_logger

    reclaim_root_logger()
    transitions = logging.getLogger("transitions")
    transitions.setLevel(max(transitions.level, logging.WARNING))


def check_scenario(scenario: Scenario, config: Any, speed: float | None) -> tuple[Scenario, list[str]]:
    """Everything the scenario asks of the station must exist: its connectors, with the right standard (else a
    `UserError`). Vehicles this build cannot simulate (no simulated vehicle for the standard yet, or one with
    real-time timers at --speed max) are left out with a warning, so the rest of the demo still plays."""
    standards = {c.id: c.standard for c in config.connectors}
    warnings: list[str] = []
    skipped: set[int] = set()
    for event in scenario.events:
        if event.action == "end":
            continue
        if event.connector_id not in standards:
            raise UserError(
                f"scenario {scenario.source}: event {event.index} uses connector {event.connector_id}, which the "
                f"configuration does not have (connectors: {', '.join(map(str, sorted(standards)))}); fix one of them"
            )
        if event.profile is None:
            continue
        if event.profile.standard != standards[event.connector_id]:
            raise UserError(
                f"scenario {scenario.source}: event {event.index} plugs a {event.profile.standard} vehicle into "
                f"connector {event.connector_id}, a {standards[event.connector_id]} connector; pick a matching profile"
            )
        try:
            kind = vehicle_kind(event.profile.standard)
        except VehicleError as exc:
            warnings.append(f"event {event.index} left out: {exc}")
            skipped.add(event.index)
            continue
        if kind.realtime and speed is None:
            warnings.append(
                f"event {event.index} left out: the simulated {kind.standard} vehicle keeps real-time timers and "
                f"cannot run at --speed max; use --speed 1 to include it"
            )
            skipped.add(event.index)
    if not skipped:
        return scenario, warnings
    kept = tuple(e for e in scenario.events if e.index not in skipped)
    return dataclasses.replace(scenario, events=kept), warnings


def build(config: Any, bus: EventBus, loop: asyncio.AbstractEventLoop) -> Any | None:
    """The station from `evse.station.build`, or None in a build without it (the world then runs alone)."""
    try:
        module = importlib.import_module("evse.station.build")
    except ModuleNotFoundError as exc:
        if exc.name == "evse.station.build":
            return None
        raise
    return module.build_station(config, bus=bus, loop=loop)


async def simulate(
    config: Any, scenario: Scenario, world: SimWorld, *, plain: bool = False, ocpp: OcppOptions | None = None
) -> list[SessionRecord]:
    loop = asyncio.get_running_loop()
    bus = EventBus()
    station = build(config, bus, loop)
    _reclaim_logging()
    runner = ScenarioRunner(world, scenario, bus, station)
    runner.t0_s = loop.time()  # notes before the scenario starts (the OCPP boot) count from here
    view = LiveView(runner, world, tty=False if plain else None)
    view.standards = {c.id: c.standard for c in config.connectors}
    sim_ocpp = None
    if station is None:
        view.on_note(0.0, 0, "no station in this build (evse.station.build is missing): the simulated world runs alone")
    else:
        if ocpp is not None:
            from evse.ocpp.sim_csms import SimOcpp

            def note(connector_id: int, text: str) -> None:
                view.on_note(runner.elapsed_s(), connector_id, text)

            sim_ocpp = SimOcpp(config, bus, station, note, csms_url=ocpp.csms_url, seed=world.seed)
            if view.tty and view.notes.maxlen is not None:  # the CSMS's lines share the notes under the table
                view.notes = collections.deque(view.notes, maxlen=view.notes.maxlen + OCPP_EXTRA_NOTE_LINES)
            await sim_ocpp.start()  # before the station, so it sees the station's first status reports
        await station.start()
    freeze_loaded_objects(collect_first=True)  # as the daemon does: no full-GC pauses over the start's objects
    ticker = _Ticker(loop, view)
    try:
        records = await runner.run()
    finally:
        ticker.stop()
        if station is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(station.shutdown(STATION_STOP_TIMEOUT_S), STATION_STOP_TIMEOUT_S * 2)
        if sim_ocpp is not None and ocpp is not None:
            await sim_ocpp.stop()  # after the station: the last StopTransaction reaches the CSMS first
            ocpp.summary = sim_ocpp.summary()
            ocpp.received = list(sim_ocpp.csms.received) if sim_ocpp.csms is not None else []
        view.close()
        world.close()
    sys.stdout.flush()
    return records


class _Ticker:
    """Calls `view.tick()` every simulated second (a timer chain, so it never keeps a virtual loop busy)."""

    def __init__(self, loop: asyncio.AbstractEventLoop, view: LiveView) -> None:
        self.loop, self.view = loop, view
        self.handle = loop.call_later(1.0, self._tick)

    def _tick(self) -> None:
        self.view.tick()
        self.handle = self.loop.call_later(1.0, self._tick)

    def stop(self) -> None:
        self.handle.cancel()
