"""Every frame the charge point sends to a test CSMS (tests/ocpp/csms.py) is captured here, and after each test
validated by the independent strict validator (npm ocpp-rpc's OCPP 1.6 schemas, tests/ocpp/validator/frames.js)
— the same connection's frames, not a replay of the scenario against another peer.

A CALLRESULT is validated against the `.conf` schema of the CALL it answers: the CSMS side records the action of
every CALL it sends (however it was sent, including the raw frames of the hostile-input tests)."""

from __future__ import annotations

import json
import select
import shutil
import subprocess
from typing import Any

from tests.ocpp.validator_peer import VALIDATOR_DIR

#: the frames of the running test: {"frame": raw text, "method": action of the CSMS CALL a response answers}
CAPTURED: list[dict[str, str]] = []
#: longest wait for the validator's verdict on one test's frames (it checks thousands per second)
CHECK_TIMEOUT_S = 30.0


def sent_by_csms(calls: dict[str, str], frame: Any) -> None:
    """The CSMS sent `frame`: remember the action of a CALL so its answer can be checked against it."""
    try:
        message = json.loads(frame)
    except (TypeError, ValueError):
        return
    if isinstance(message, list) and len(message) >= 3 and message[0] == 2 and isinstance(message[1], str):
        calls[message[1]] = str(message[2])


def sent_by_charge_point(calls: dict[str, str], frame: str) -> None:
    entry = {"frame": frame}
    try:
        message = json.loads(frame)
    except ValueError:
        message = None
    if isinstance(message, list) and len(message) >= 2 and message[0] == 3 and isinstance(message[1], str):
        method = calls.get(message[1])
        if method is not None:
            entry["method"] = method
    CAPTURED.append(entry)


class StrictFrameChecker:
    """One long-lived node process running frames.js; `check()` blocks until it has judged a batch."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self._n = 0

    def _start(self) -> subprocess.Popen[str]:
        node = shutil.which("node")
        if node is None or not (VALIDATOR_DIR / "node_modules" / "ocpp-rpc").is_dir():
            raise RuntimeError("the strict validator needs node and `npm ci` in tests/ocpp/validator (make test)")
        return subprocess.Popen(
            [node, str(VALIDATOR_DIR / "frames.js")],
            cwd=VALIDATOR_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def check(self, frames: list[dict[str, str]]) -> dict[str, Any]:
        """{"checked": n, "violations": [...]} for `frames`."""
        if self._process is None or self._process.poll() is not None:
            self._process = self._start()
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        self._n += 1
        ref = f"t{self._n}"
        process.stdin.write(json.dumps({"ref": ref, "frames": frames}) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], CHECK_TIMEOUT_S)
        if not ready:
            raise TimeoutError(f"the strict validator gave no verdict within {CHECK_TIMEOUT_S} s")
        verdict: dict[str, Any] = json.loads(process.stdout.readline())
        assert verdict["ref"] == ref, verdict
        return verdict

    def close(self) -> None:
        if self._process is not None:
            if self._process.stdin is not None:
                self._process.stdin.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
