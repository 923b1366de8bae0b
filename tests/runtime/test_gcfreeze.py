"""evse/gcfreeze.py: after freezing, a full collection no longer walks the objects loaded at start (run in a fresh
interpreter: freezing is process-wide)."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import gc, json
import evse.station.build, evse.protocols.chademo.adapter, evse.protocols.gbt.adapter  # a daemon's start, roughly
from evse.gcfreeze import freeze_loaded_objects
gc.collect()
before = len(gc.get_objects(generation=2))
cycle = []
cycle.append(cycle)  # garbage that exists when the collection before the freeze runs
del cycle
frozen = freeze_loaded_objects(collect_first=True)
after = len(gc.get_objects(generation=2))
young = [object() for _ in range(10)]
kept = [[] for _ in range(10)]
gc.collect()
print(json.dumps({"before": before, "frozen": frozen, "after": after, "gen2_later": len(gc.get_objects(generation=2))}))
"""


def test_a_full_collection_after_the_freeze_walks_only_newer_objects() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=True)
    counts = json.loads(result.stdout.splitlines()[-1])
    assert counts["before"] > 10_000  # the loaded modules, classes and settings
    assert counts["frozen"] > 0.9 * counts["before"]  # all of them, less the garbage collected first
    assert counts["after"] == 0  # nothing left for a full pass to walk ...
    assert counts["gen2_later"] < 1_000  # ... but what was created since
