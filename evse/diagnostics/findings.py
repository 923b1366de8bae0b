"""A finding: one cause the data points at, in a sentence an operator can act on, with its evidence."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str  # "pilot_drift", "vehicle_incompatible", "insulation_decline", "recurring_fault"
    subject: str  # "connector 2", "vehicle signature:abc"
    summary: str  # the sentence: what the data shows
    advice: str  # what to check or do
    evidence: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return f"{self.summary} — {self.advice}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmt_ohm(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.3g} MΩ"
    if value >= 1e3:
        return f"{value / 1e3:.3g} kΩ"
    return f"{value:.3g} Ω"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
