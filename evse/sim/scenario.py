"""Scenarios: a timeline of vehicles plugging in, faults, stops and unplugging, as a TOML file.

    [scenario]
    name = "demo"
    description = "one session per connector, one injected failure"
    unplug_after_s = 20          # a vehicle leaves this long after its session ended (-1: it stays)
    end_after_s = 7200           # hard end in simulated seconds (default: when everything is done)

    [[events]]
    at_s = 0
    connector = 1
    plug = "ccs-400v-77kwh"      # a profile name or path; optional overrides:
    soc_pct = 10                 #   [battery] values (soc_pct, temperature_c, …)
    protocol = { target_soc_pct = 80 }

    [[events]]
    connector = 3
    on_stage = "energy_transfer" # instead of at_s: when connector 3's session enters that stage …
    after_s = 60                 # … plus this long
    fault = "insulation_degradation"
    params = { resistance_ohm = 30000, location = "vehicle" }

Each event has exactly one action: `plug`, `unplug = true`, `fault` (+ `params`), `clear_fault`, `stop` (a
station-side stop: "user_stop", "csms_stop", …) or `end = true`.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evse.session.stages import Reason, Stage
from evse.sim.interfaces import VehicleProfile
from evse.sim.profile import ProfileError, load_profile, with_overrides

ACTIONS = ("plug", "unplug", "fault", "clear_fault", "stop", "end")
_EVENT_KEYS = {"at_s", "on_stage", "after_s", "connector", "params", "soc_pct", "protocol", "battery", *ACTIONS}
_SCENARIO_KEYS = {"name", "description", "unplug_after_s", "end_after_s"}
#: battery values an event may override directly (`soc_pct = 10` rather than `battery = { soc_pct = 10 }`)
_BATTERY_SHORTCUTS = ("soc_pct",)


class ScenarioError(Exception):
    """A scenario file cannot be used; one sentence naming the file, the event and the fix."""


@dataclass(frozen=True, slots=True)
class ScenarioEvent:
    index: int
    action: str
    connector_id: int
    at_s: float | None = None
    on_stage: Stage | None = None
    after_s: float = 0.0
    profile: VehicleProfile | None = None
    fault: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    stop_reason: Reason | None = None

    def describe(self) -> str:
        what = {
            "plug": f"plug {self.profile.name if self.profile else '?'}",
            "unplug": "unplug",
            "fault": f"inject {self.fault}",
            "clear_fault": f"clear {self.fault}",
            "stop": f"stop ({self.stop_reason.value if self.stop_reason else ''})",
            "end": "end of scenario",
        }[self.action]
        return f"connector {self.connector_id}: {what}" if self.action != "end" else what


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    events: tuple[ScenarioEvent, ...]
    description: str = ""
    unplug_after_s: float = 20.0
    end_after_s: float | None = None
    source: str = "<scenario>"

    def connectors(self) -> set[int]:
        return {e.connector_id for e in self.events if e.action != "end"}


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"scenario file {path} does not exist; check the path (e.g. config/scenarios/demo.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {path} is not valid TOML ({exc}); fix the syntax") from exc
    return parse_scenario(data, source=str(path))


def parse_scenario(data: dict[str, Any], source: str = "<scenario>") -> Scenario:
    head = data.get("scenario", {})
    if not isinstance(head, dict):
        raise ScenarioError(f"scenario {source}: [scenario] must be a table")
    unknown = set(head) - _SCENARIO_KEYS
    if unknown:
        raise ScenarioError(
            f"scenario {source}: [scenario] has unknown key(s) {', '.join(sorted(unknown))}; allowed: "
            f"{', '.join(sorted(_SCENARIO_KEYS))}"
        )
    others = set(data) - {"scenario", "events"}
    if others:
        raise ScenarioError(
            f"scenario {source}: unknown table(s) {', '.join(sorted(others))}; a scenario has [scenario] and [[events]]"
        )
    raw_events = data.get("events", [])
    if not isinstance(raw_events, list) or not raw_events:
        raise ScenarioError(f"scenario {source} has no [[events]]; add at least one (e.g. a plug event)")
    events = tuple(_event(i, raw, source) for i, raw in enumerate(raw_events, start=1))
    return Scenario(
        name=str(head.get("name", Path(source).stem)),
        description=str(head.get("description", "")),
        events=events,
        unplug_after_s=_number(head.get("unplug_after_s", 20.0), "[scenario] unplug_after_s", source),
        end_after_s=(_number(head["end_after_s"], "[scenario] end_after_s", source) if "end_after_s" in head else None),
        source=source,
    )


def _number(value: Any, where: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"scenario {source}: {where} must be a number, got {value!r}")
    return float(value)


def _event(index: int, raw: Any, source: str) -> ScenarioEvent:
    where = f"scenario {source}: event {index}"
    if not isinstance(raw, dict):
        raise ScenarioError(f"{where} must be a table")
    unknown = set(raw) - _EVENT_KEYS
    if unknown:
        raise ScenarioError(
            f"{where} has unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(_EVENT_KEYS))}"
        )
    actions = [a for a in ACTIONS if a in raw]
    if len(actions) != 1:
        raise ScenarioError(f"{where} needs exactly one action of {', '.join(ACTIONS)} (has {len(actions)})")
    action = actions[0]
    at_s = _number(raw["at_s"], f"event {index} at_s", source) if "at_s" in raw else None
    on_stage: Stage | None = None
    if "on_stage" in raw:
        try:
            on_stage = Stage(raw["on_stage"])
        except ValueError:
            raise ScenarioError(
                f"{where}: on_stage {raw['on_stage']!r} is not a stage; use one of {', '.join(s.value for s in Stage)}"
            ) from None
    if (at_s is None) == (on_stage is None):
        raise ScenarioError(f"{where} needs either at_s (a time) or on_stage (a stage of the connector's session)")
    after_s = _number(raw.get("after_s", 0.0), f"event {index} after_s", source)
    connector = raw.get("connector", 0 if action == "end" else None)
    if isinstance(connector, bool) or not isinstance(connector, int) or (action != "end" and connector < 1):
        raise ScenarioError(f"{where} needs connector = <connector id ≥ 1>")
    event = ScenarioEvent(index, action, connector, at_s, on_stage, after_s)
    if action == "plug":
        return _plug(event, raw, where)
    if action in ("fault", "clear_fault"):
        name = raw[action]
        if not isinstance(name, str):
            raise ScenarioError(f"{where}: {action} must be a fault name (see `evse sim --list-faults`)")
        params = raw.get("params", {})
        if not isinstance(params, dict):
            raise ScenarioError(f"{where}: params must be a table, e.g. params = {{ resistance_ohm = 30000 }}")
        return _replace(event, fault=name, params=params)
    if action == "stop":
        try:
            reason = Reason(raw["stop"])
        except ValueError:
            raise ScenarioError(f"{where}: stop = {raw['stop']!r}: use user_stop, csms_stop or shutdown") from None
        return _replace(event, stop_reason=reason)
    if raw[action] is not True:
        raise ScenarioError(f"{where}: write {action} = true")
    return event


def _plug(event: ScenarioEvent, raw: dict[str, Any], where: str) -> ScenarioEvent:
    try:
        profile = load_profile(raw["plug"])
    except ProfileError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    battery = raw.get("battery", {})
    protocol = raw.get("protocol", {})
    if not isinstance(battery, dict) or not isinstance(protocol, dict):
        raise ScenarioError(f"{where}: battery and protocol must be tables of profile overrides")
    for key in _BATTERY_SHORTCUTS:
        if key in raw:
            battery = {**battery, key: raw[key]}
    try:
        profile = with_overrides(profile, battery, protocol)
    except ProfileError as exc:
        raise ScenarioError(f"{where}: {exc}") from None
    return _replace(event, profile=profile)


def _replace(event: ScenarioEvent, **changes: Any) -> ScenarioEvent:
    import dataclasses

    return dataclasses.replace(event, **changes)
