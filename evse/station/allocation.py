"""Sharing the station's power budget between the connectors that are charging.

Fair share by water-filling: every active connector gets an equal share, a connector capped below its share
(its own rating, the CSMS limit, the vehicle's maximum) keeps only its cap, and what it leaves is shared again
among the others. The result never exceeds the budget, never exceeds a cap, and is recomputed at once whenever a
session starts or ends or a cap changes (the station calls `allocate` then).
"""

from __future__ import annotations


def allocate(budget_w: float, caps_w: dict[int, float]) -> dict[int, float]:
    """The power share of each active connector (keys of `caps_w`), each ≤ its cap, summing to ≤ `budget_w`."""
    shares: dict[int, float] = {}
    remaining_w = max(0.0, budget_w)
    pending = sorted(caps_w, key=lambda cid: caps_w[cid])
    while pending:
        fair_w = remaining_w / len(pending)
        smallest = pending[0]
        cap_w = max(0.0, caps_w[smallest])
        if cap_w <= fair_w:
            shares[smallest] = cap_w
            remaining_w -= cap_w
            pending.pop(0)
            continue
        for cid in pending:  # every remaining cap is above the fair share: all get it
            shares[cid] = fair_w
        break
    return shares
