"""The committed diagram page is what the machine's table produces now."""

from __future__ import annotations

from evse.session.adapter import PLANS
from evse.session.diagram import DEFAULT_PATH, render


def test_committed_diagram_is_current() -> None:
    committed = DEFAULT_PATH.read_text(encoding="utf-8")
    assert committed == render(), "docs/session-state-machine.md is stale: run `python -m evse.session.diagram`"


def test_diagram_shows_every_plan_and_its_moves() -> None:
    page = render()
    for standard in PLANS:
        assert f"title: {standard} session" in page
    assert "energy_transfer --> paused: pause" in page
    assert "unlock --> faulted: fault" in page
