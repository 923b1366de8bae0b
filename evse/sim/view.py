"""The terminal view of `evse sim`: a live table per connector and, at the end, the summary of every session.

On a terminal the table is redrawn in place (ANSI) a few times per wall-clock second, with the latest notes
below it. When stdout is not a terminal (a pipe, CI, a log file) it prints plain lines instead: each stage
change, each note, and a progress line per charging connector every `progress_every_s` simulated seconds.
Wall-clock reads here only pace the drawing; nothing in the simulation depends on them.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections import deque
from typing import TextIO

from evse.session.events import Event, StageChanged
from evse.session.stages import HANDSHAKE_STAGES, Stage
from evse.sim.runner import ScenarioRunner, SessionRecord
from evse.sim.world import SimWorld

#: handshake stages in the order a summary shows them (the union of the three plans)
SUMMARY_STAGES: tuple[Stage, ...] = (
    Stage.CONNECTION_DETECTION,
    Stage.BMS_WAKE_UP,
    Stage.AUTHORIZATION,
    Stage.PARAMETER_NEGOTIATION,
    Stage.INSULATION_TEST,
    Stage.PRE_CHARGE,
    Stage.CONTACTOR_CLOSURE,
)
SHORT: dict[Stage, str] = {
    Stage.CONNECTION_DETECTION: "detect",
    Stage.BMS_WAKE_UP: "wake",
    Stage.AUTHORIZATION: "auth",
    Stage.PARAMETER_NEGOTIATION: "params",
    Stage.INSULATION_TEST: "insul",
    Stage.PRE_CHARGE: "prechg",
    Stage.CONTACTOR_CLOSURE: "close",
}
_GREEN, _RED, _YELLOW, _DIM, _BOLD, _RESET = "\x1b[32m", "\x1b[31m", "\x1b[33m", "\x1b[2m", "\x1b[1m", "\x1b[0m"
#: wall seconds between redraws on a terminal
REDRAW_S = 0.2


def clock(t_s: float) -> str:
    t = int(max(t_s, 0.0))
    return f"{t // 3600:02d}:{t % 3600 // 60:02d}:{t % 60:02d}"


class LiveView:
    def __init__(
        self,
        runner: ScenarioRunner,
        world: SimWorld,
        out: TextIO | None = None,
        *,
        tty: bool | None = None,
        progress_every_s: float = 300.0,
        title: str = "",
    ) -> None:
        self.runner = runner
        self.world = world
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        self.progress_every_s = progress_every_s
        self.title = title or f"evse sim — {runner.scenario.name}"
        self.notes: deque[str] = deque(maxlen=8)
        #: connector id → standard, for the rows of empty connectors (set by the CLI from the configuration)
        self.standards: dict[int, str] = {}
        self._drawn_lines = 0
        self._last_draw_wall = 0.0
        self._last_progress_s = 0.0
        self._wall_start = time.monotonic()  # wall-clock ok: display pacing only
        runner.notes.append(self.on_note)
        runner.bus.subscribe(self.on_event)

    # ---- inputs
    def on_note(self, t_s: float, connector_id: int, text: str) -> None:
        line = f"[{clock(t_s)}] " + (f"connector {connector_id}: " if connector_id else "") + text
        if self.tty:
            self.notes.append(line)
        else:
            self._print(line)

    def on_event(self, event: Event) -> None:
        if isinstance(event, StageChanged) and not self.tty:
            t = event.t_s - self.runner.t0_s
            self._print(f"[{clock(t)}] connector {event.connector_id}: {event.previous.value} → {event.stage.value}")

    def tick(self) -> None:
        """Called once per simulated second by the CLI."""
        t = self.runner.elapsed_s()
        if self.tty:
            now = time.monotonic()  # wall-clock ok: display pacing only
            if now - self._last_draw_wall >= REDRAW_S:
                self._last_draw_wall = now
                self.draw()
        elif t - self._last_progress_s >= self.progress_every_s:
            self._last_progress_s = t
            for line in self.rows(plain=True):
                self._print(f"[{clock(t)}] {line}")

    # ---- rendering
    def connector_ids(self) -> list[int]:
        return sorted(set(self.world.plants) | self.runner.scenario.connectors())

    def rows(self, plain: bool = False) -> list[str]:
        out: list[str] = []
        for cid in self.connector_ids():
            connector = self.runner.connectors.get(cid)
            record = connector.record if connector is not None else None
            plugged = connector.plugged if connector is not None else None
            plant = self.world.plant(cid)
            volts, amps = plant.output_voltage_v, plant.current_a
            soc = f"{plugged.battery.soc_pct:5.1f}%" if plugged is not None else "   — "
            stage, colour = self._stage(record, plugged is not None)
            if plain and (record is None or record.outcome is not None or plugged is None):
                continue  # plain progress lines only for live sessions
            limit = ""
            if record is not None and record.limit_a is not None and record.outcome is None:
                limit = f"{record.limit_a:.0f} A {record.limit_source or '?'}"
            vehicle = (record.vehicle if record is not None and plugged is not None else "")[:30]
            standard = record.standard if record is not None else ""
            if not vehicle:
                vehicle = f"({standard or self.standards.get(cid, '')})"
            text = (
                f"{cid:>2} {vehicle:<30} {stage:<22} {soc} {volts:5.0f} V {amps:5.0f} A "
                f"{volts * amps / 1000:5.1f} kW  {limit}"
            )
            if not plain:
                text = self._fit(text)
            out.append(text if plain or not colour else f"{colour}{text}{_RESET}")
        return out

    def _stage(self, record: SessionRecord | None, plugged: bool) -> tuple[str, str]:
        if record is None or (not plugged and record.outcome is None):
            return ("available", _DIM)
        if record.outcome is not None:
            o = record.outcome
            text = f"✗ {o.reason.value}" if o.failed else o.kind.value
            return (text[:22], _RED if o.failed else _GREEN)
        if record.stage is Stage.ENERGY_TRANSFER:
            return (record.stage.value, _GREEN)
        if record.stage is Stage.IDLE:
            return ("plugged in", _YELLOW)
        return (record.stage.value, _YELLOW if record.stage in HANDSHAKE_STAGES else "")

    def draw(self) -> None:
        t = self.runner.elapsed_s()
        wall = max(time.monotonic() - self._wall_start, 1e-6)  # wall-clock ok: display only
        header = " # vehicle                        stage                    SOC      V       A        kW  limit"

        lines = [
            f"{_BOLD}{self._fit(self.title)}{_RESET}   t = {clock(t)}   ×{t / wall:,.0f} real time",
            f"{_DIM}{self._fit(header)}{_RESET}",
            *self.rows(),
            "",
            *(self._fit(note) for note in self.notes),
        ]
        if self._drawn_lines:
            self.out.write(f"\x1b[{self._drawn_lines}F\x1b[J")
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self._drawn_lines = len(lines)

    def _fit(self, text: str) -> str:
        """Cut a line to the terminal width: a wrapped line would break the in-place redraw."""
        width = shutil.get_terminal_size((120, 40)).columns - 1
        return text if len(text) <= width else text[: max(width - 1, 1)] + "…"

    def close(self) -> None:
        if self.tty:
            self.draw()

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def outcome_text(record: SessionRecord) -> str:
    """The outcome in a few words: kind, and for a failure the stage and reason; the vehicle's own words."""
    o = record.outcome
    if o is None:
        return f"no outcome (last stage {record.stage.value})"
    text = f"{o.kind.value} in {o.stage.value}: {o.reason.value}" if o.failed else o.kind.value
    return text + (f" ({o.vehicle_reason})" if o.vehicle_reason else "")


def summary(records: list[SessionRecord]) -> str:
    """The end-of-run table: outcome, energy and SOC per session, then handshake durations per stage."""
    if not records:
        return "No vehicle was plugged in."
    lines = ["Sessions", "", "| # | connector | vehicle | outcome | energy | SOC | charging | stop+unlock |"]
    lines.append("|---|" + "---|" * 7)
    details: list[str] = []
    for n, r in enumerate(records, start=1):
        soc_end = f"{r.soc_end_pct:.0f}" if r.soc_end_pct is not None else "?"
        charging = r.stage_durations_s.get(Stage.ENERGY_TRANSFER)
        closing = sum(r.stage_durations_s.get(s, 0.0) for s in (Stage.STOPPING, Stage.UNLOCK))
        lines.append(
            f"| {n} | {r.connector_id} {r.standard} | {r.vehicle} | {outcome_text(r)} | {r.energy_wh / 1000:.2f} kWh | "
            f"{r.soc_start_pct:.0f} → {soc_end} % | {clock(charging) if charging else '—'} | {closing:.1f} s |"
        )
        if r.outcome is not None and r.outcome.detail:
            details.append(f"  {n}: {r.outcome.detail}")
        if r.faults:
            details.append(f"  {n}: injected {', '.join(r.faults)}")
    if details:
        lines += ["", *details]
    lines += ["", "Handshake durations (s)", ""]
    head = "| # | " + " | ".join(SHORT[s] for s in SUMMARY_STAGES) + " | total |"
    lines += [head, "|---|" + "---|" * (len(SUMMARY_STAGES) + 1)]
    for n, r in enumerate(records, start=1):
        cells = []
        total = 0.0
        for stage in SUMMARY_STAGES:
            d = r.stage_durations_s.get(stage)
            cells.append("—" if d is None else f"{d:.1f}")
            total += d or 0.0
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {total:.1f} |")
    return "\n".join(lines)
