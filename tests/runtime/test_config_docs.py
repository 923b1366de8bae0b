"""docs/configuration.md is generated from the declarations and must be current; secrets are redacted."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec

from evse.config import docs
from evse.config.loader import parse_config
from evse.config.meta import Settings, setting
from evse.config.secrets import REDACTED, redact

STALE = (
    "docs/configuration.md is stale: a setting was added or changed. Regenerate it with "
    "`.venv/bin/python -m evse.config.docs` and commit the result."
)


def test_committed_configuration_doc_is_current() -> None:
    committed = docs.DOC_PATH.read_text(encoding="utf-8")
    assert committed == docs.render(), STALE


def test_doc_lists_keys_with_unit_default_and_constraint() -> None:
    text = docs.render()
    assert "| `max_current_a` | number | `125.0` | A | > 0 | Highest DC output current |" in text
    assert "`[[connectors]]`" in text and "**required**" in text
    assert "python -m evse.config.docs" in text.splitlines()[0]


def test_check_mode_detects_a_stale_file(tmp_path: Path) -> None:
    out = tmp_path / "configuration.md"
    out.write_text("old\n", encoding="utf-8")
    assert docs.main(["--check", "--output", str(out)]) == 1
    assert docs.main(["--output", str(out)]) == 0
    assert docs.main(["--check", "--output", str(out)]) == 0


class _Secretive(Settings, frozen=True):
    user: str = "op"
    password: str = ""
    api_token: str = ""
    password_file: str = ""
    pin: str = msgspec.field(default="")
    key: dict[str, str] = {}


class _Unmarked(Settings, frozen=True):
    pin: str = "1234"


class _Marked(Settings, frozen=True):
    pin: Annotated[str, setting("PIN", secret=True)] = "1234"


def test_redaction_by_name_and_by_declaration() -> None:
    data = redact(_Secretive(password="hunter2", api_token="abc", password_file="/etc/evse/pw", key={"secret": "x"}))
    assert data["password"] == REDACTED and data["api_token"] == REDACTED
    assert data["password_file"] == "/etc/evse/pw" and data["user"] == "op"
    assert data["key"] == {"secret": REDACTED}
    assert redact(_Marked())["pin"] == REDACTED
    assert redact(_Unmarked())["pin"] == "1234"


def test_config_redacted_hides_driver_params_secrets() -> None:
    config = parse_config(
        '[[connectors]]\nid = 1\nstandard = "ccs"\n'
        'hardware.meter = { driver = "sim", params = { password = "s3cret", port = "/dev/ttyUSB0" } }\n'
    )
    text = str(config.redacted())
    assert "s3cret" not in text and "/dev/ttyUSB0" in text
