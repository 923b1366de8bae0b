"""Keep what the process loaded at start out of the cyclic garbage collector's full passes.

Python's full (generation 2) collection walks every tracked object. With the CCS stack loaded (iso15118's
pydantic models, py4j, cryptography) that is ~20–40 ms on a 2-core board — a pause of the one event loop that
serves every connector: their protocol frames, their supervisors' reactions, the V2G timers. A full collection
happens whenever enough new objects have survived, so it comes at random moments during charging (measured in a
simulated CCS session: a 37 ms pause, enough for the vehicle-silence limit to end a session at 100× speed).

Objects loaded at start (modules, classes, models, settings) live until the process exits and are never garbage.
`gc.freeze()` moves every object tracked now into a permanent generation that collections skip, so a full pass
walks only what was created afterwards; freezing is a list splice, cheap and safe to repeat (later objects are
frozen by a later call). Garbage that exists at the moment of freezing stays until exit: at start there is
little (collect first where a pause does not matter yet).
"""

from __future__ import annotations

import gc


def freeze_loaded_objects(*, collect_first: bool) -> int:
    """Freeze every object tracked now (after a full collection when `collect_first`: only where a ~20 ms pause
    does not matter, before the first session); the number of frozen objects."""
    if collect_first:
        gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
