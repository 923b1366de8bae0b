"""Fair sharing of the station budget."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from evse.station.allocation import allocate


def test_equal_shares_when_nobody_is_capped() -> None:
    assert allocate(150_000, {1: 100_000, 2: 100_000, 3: 100_000}) == {1: 50_000, 2: 50_000, 3: 50_000}


def test_what_a_capped_connector_leaves_goes_to_the_others() -> None:
    shares = allocate(150_000, {1: 20_000, 2: 100_000, 3: 100_000})
    assert shares == {1: 20_000, 2: 65_000, 3: 65_000}


def test_budget_larger_than_every_cap() -> None:
    assert allocate(500_000, {1: 50_000, 2: 60_000}) == {1: 50_000, 2: 60_000}


def test_no_active_connector() -> None:
    assert allocate(100_000, {}) == {}


@given(
    budget_w=st.floats(0, 1e6),
    caps=st.dictionaries(st.integers(1, 8), st.floats(0, 5e5), max_size=8),
)
def test_never_above_budget_or_cap_and_max_min_fair(budget_w: float, caps: dict[int, float]) -> None:
    shares = allocate(budget_w, caps)
    assert set(shares) == set(caps)
    assert sum(shares.values()) <= budget_w * (1 + 1e-9) + 1e-6
    for cid, share in shares.items():
        assert 0 <= share <= caps[cid] + 1e-6
    # fairness: a connector below its cap gets at least as much as anybody else
    if shares:
        top = max(shares.values())
        for cid, share in shares.items():
            if share < caps[cid] - 1e-6:
                assert share == pytest.approx(top, rel=1e-9, abs=1e-6)
    # nothing wasted: either every cap is met or the budget is used up
    if not all(shares[c] >= caps[c] - 1e-6 for c in caps):
        assert sum(shares.values()) == pytest.approx(budget_w, rel=1e-9, abs=1e-6)
