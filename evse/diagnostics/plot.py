"""`evse sessions plot ID`: the charging curve of one session as a PNG.

Panels, sharing the time axis (seconds from plug-in): the stage timeline (handshake stages marked), power and
SOC, voltage, current requested vs offered vs delivered, temperatures. The background of the curve panels is
shaded by the limiting factor in force (vehicle, charger, cable temperature, CSMS, station budget), so "why was
it slow?" is answered at a glance. matplotlib is an optional extra (`pip install evse[plot]`); the Agg backend
needs no display.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evse.config.errors import UserError
from evse.diagnostics.findings import fmt_ohm
from evse.diagnostics.rules import STAGE_WORDS

#: background colour per limiting factor
LIMIT_COLOURS = {
    "vehicle": "#d9ead3",
    "charger": "#cfe2f3",
    "cable_temperature": "#f4cccc",
    "csms": "#fff2cc",
    "station_budget": "#d9d2e9",
}
#: stage bar colours: handshake stages warm, energy transfer green, the rest grey
STAGE_COLOURS = {
    "connection_detection": "#e69138",
    "bms_wake_up": "#f1c232",
    "authorization": "#a64d79",
    "parameter_negotiation": "#3d85c6",
    "insulation_test": "#cc0000",
    "pre_charge": "#674ea7",
    "contactor_closure": "#45818e",
    "energy_transfer": "#6aa84f",
    "paused": "#b7b7b7",
    "stopping": "#999999",
    "unlock": "#666666",
}


def _limit_runs(samples: list[dict[str, Any]]) -> list[tuple[float, float, str]]:
    """Contiguous stretches of samples with the same limit source: (start, end, source)."""
    runs: list[tuple[float, float, str]] = []
    for n, s in enumerate(samples):
        source = s.get("limit_source") or ""
        end = samples[n + 1]["t_s"] if n + 1 < len(samples) else s["t_s"]
        if runs and runs[-1][2] == source:
            runs[-1] = (runs[-1][0], end, source)
        else:
            runs.append((s["t_s"], end, source))
    return [r for r in runs if r[2]]


def render_png(session: dict[str, Any], output: Path) -> Path:
    """Write the session's plot to `output` (PNG) and return it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise UserError("plotting needs matplotlib: install the plot extra (pip install 'evse[plot]')") from exc

    samples = session.get("samples") or []
    stages = session.get("stages") or []
    if samples:
        fig, axes = plt.subplots(
            5,
            1,
            figsize=(11, 11),
            sharex=True,
            gridspec_kw={"height_ratios": [0.6, 2, 1.5, 2, 1.5]},
            layout="constrained",
        )
        _draw_stages(axes[0], stages, charged=True)
        runs = _draw_curves(axes[1:], samples, stages)
        if runs:
            sources = list(dict.fromkeys(source for _, _, source in runs))
            fig.legend(
                handles=[Patch(color=LIMIT_COLOURS.get(s, "#eeeeee"), label=s.replace("_", " ")) for s in sources],
                title="limiting factor",
                loc="outside lower center",
                ncols=len(sources),
                fontsize=8,
            )
    else:
        # no energy transfer: the handshake is the whole story — the stages and the evidence of the failure
        fig, axes = plt.subplots(2, 1, figsize=(11, 6.5), gridspec_kw={"height_ratios": [1, 3]}, layout="constrained")
        _draw_stages(axes[0], stages, charged=False)
        axes[0].set_xlabel("time since plug-in (s)")
        axes[1].axis("off")
        axes[1].text(0, 1, _evidence_text(session), va="top", ha="left", family="monospace", fontsize=8)
    fig.suptitle(_title(session), fontsize=10)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


def _draw_stages(ax: Any, stages: list[dict[str, Any]], *, charged: bool) -> None:
    """Stage timeline: one bar per visit; names and durations in the legend (handshake stages are short next to
    charging, so the bar itself cannot carry them)."""
    seen: dict[str, Any] = {}
    for visit in stages:
        start = visit["entered_s"]
        end = visit["exited_s"] if visit["exited_s"] is not None else start
        colour = STAGE_COLOURS.get(visit["stage"], "#cccccc")
        seen.setdefault(visit["stage"], ax.broken_barh([(start, max(end - start, 1e-3))], (0, 1), color=colour))
    ax.set_yticks([])
    ax.set_ylim(0, 1)
    ax.set_ylabel("stage")
    if seen:
        ax.legend(
            list(seen.values()),
            [f"{STAGE_WORDS.get(k, k)} {_duration(stages, k):.1f} s" for k in seen],
            loc="lower center",
            bbox_to_anchor=(0.5, 1.02),
            ncols=min(len(seen), 5),
            fontsize=8,
            frameon=False,
        )
    et_start = next((v["entered_s"] for v in stages if v["stage"] == "energy_transfer"), None)
    if charged and stages and et_start is not None:
        label = f"handshake {et_start - stages[0]['entered_s']:.1f} s"
        ax.annotate(label, (et_start, 0.5), xytext=(4, 0), textcoords="offset points", va="center", fontsize=8)


def _draw_curves(
    axes: Any, samples: list[dict[str, Any]], stages: list[dict[str, Any]]
) -> list[tuple[float, float, str]]:
    ax_power, ax_volt, ax_curr, ax_temp = axes
    t = [s["t_s"] for s in samples]
    et_start = next((v["entered_s"] for v in stages if v["stage"] == "energy_transfer"), None)
    runs = _limit_runs(samples)
    for ax in axes:
        for start, end, source in runs:
            ax.axvspan(start, end, color=LIMIT_COLOURS.get(source, "#eeeeee"), alpha=0.6, linewidth=0)
        if et_start is not None:
            ax.axvline(et_start, color="#6aa84f", linestyle="--", linewidth=1)
        ax.grid(True, alpha=0.3)
    ax_power.plot(t, [(s["power_w"] or 0) / 1000 for s in samples], color="#0b5394", label="power")
    ax_power.set_ylabel("power (kW)")
    ax_power.set_ylim(bottom=0)
    soc = [(x, s["soc_pct"]) for x, s in zip(t, samples, strict=True) if s["soc_pct"] is not None]
    if soc:
        ax_soc = ax_power.twinx()
        ax_soc.plot([x for x, _ in soc], [y for _, y in soc], color="#e69138", label="SOC")
        ax_soc.set_ylabel("SOC (%)", color="#e69138")
        ax_soc.set_ylim(0, 100)
    ax_volt.plot(t, [s["voltage_v"] for s in samples], color="#741b47")
    ax_volt.set_ylabel("voltage (V)")
    for key, label, style in (
        ("requested_current_a", "requested by vehicle", dict(color="#e69138", linestyle="--")),
        ("current_a", "delivered", dict(color="#0b5394", linewidth=2.5, alpha=0.8)),
        ("offered_current_a", "limit in force", dict(color="#cc0000", linestyle=":", linewidth=1.5)),
    ):
        points = [(x, s[key]) for x, s in zip(t, samples, strict=True) if s[key] is not None]
        if points:
            ax_curr.plot([x for x, _ in points], [y for _, y in points], label=label, **style)
    ax_curr.set_ylabel("current (A)")
    ax_curr.set_ylim(bottom=0)
    ax_curr.legend(loc="lower left", fontsize=8)
    names = sorted({k for s in samples for k in (s.get("temperatures") or {})})
    for name in names:
        ax_temp.plot(t, [(s.get("temperatures") or {}).get(name) for s in samples], label=name)
    if names:
        ax_temp.legend(loc="upper left", fontsize=8)
    ax_temp.set_ylabel("temperature (°C)")
    ax_temp.set_xlabel("time since plug-in (s)")
    return runs


#: trace lines shown on a handshake-failure plot (the last ones: closest to the failure)
EVIDENCE_TRACE_LINES = 18


def _evidence_text(s: dict[str, Any]) -> str:
    lines = []
    if s.get("outcome_detail"):
        lines.append(f"detail: {s['outcome_detail']}")
    if s.get("vehicle_reason"):
        lines.append(f"vehicle reason: {s['vehicle_reason']}")
    for p in s.get("pilot") or []:
        lines.append(f"pilot {p['line']}: {p['voltage_v']:.2f} V (nominal {p['nominal_v']} V)")
    for i in s.get("insulation") or []:
        verdict = "passed" if i["passed"] else "FAILED"
        lines.append(f"insulation: {fmt_ohm(i['resistance_ohm'])} at {i['test_voltage_v']} V, {verdict}")
    for f in s.get("faults") or []:
        lines.append(f"fault at {f['t_s']:.2f} s: {f['code']} {f['detail']}")
    trace = s.get("trace") or []
    if trace:
        lines.append(f"last {min(len(trace), EVIDENCE_TRACE_LINES)} of {len(trace)} trace records:")
        for r in trace[-EVIDENCE_TRACE_LINES:]:
            lines.append(f"  {r['t_s']:8.3f} {r['direction']} {r['text'][:110]}")
    return "\n".join(lines) or "no evidence recorded"


def _duration(stages: list[dict[str, Any]], stage: str) -> float:
    return sum((v["exited_s"] or v["entered_s"]) - v["entered_s"] for v in stages if v["stage"] == stage)


def _title(s: dict[str, Any]) -> str:
    outcome = f"{s.get('outcome_kind') or 'running'}"
    if s.get("outcome_kind") and s["outcome_kind"] != "completed":
        outcome += f" in {s.get('outcome_stage')}: {s.get('outcome_reason')}"
    energy = (s.get("energy_wh") or 0.0) / 1000
    vehicle = s.get("vehicle_key") or "unidentified vehicle"
    return (
        f"session {s['id']} — connector {s['connector_id']} {s['standard']} {s.get('protocol_version') or ''} — "
        f"{vehicle}\n{outcome}, {energy:.2f} kWh, peak {(s.get('peak_power_w') or 0) / 1000:.1f} kW"
    )
