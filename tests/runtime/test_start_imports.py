"""What the daemon's start leaves unimported (resident memory, issue 10): every `evse` command builds the whole
argument parser (each area's cli module) and `evse run` imports the local API; the session diagnosis (its rules
and `statistics`) loads only when `evse diagnose` or GET /api/diagnose asks for it."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json, sys
from evse.cli import build_parser
build_parser()
import evse.api.service
print(json.dumps(sorted(sys.modules)))
"""

#: modules only the diagnosis needs
NOT_AT_START = ("evse.diagnostics.report", "evse.diagnostics.rules", "statistics")


def test_the_cli_and_the_api_import_the_diagnosis_only_on_use() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    modules = json.loads(result.stdout.splitlines()[-1])
    assert "evse.diagnostics.cli" in modules and "evse.api.app" in modules
    assert [name for name in NOT_AT_START if name in modules] == []
