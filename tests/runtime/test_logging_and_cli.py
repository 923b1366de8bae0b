"""JSON log shape (context carried, secrets filtered), console on a terminal, `evse --version` / `--help`."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from evse import __version__
from evse.cli import SUBCOMMAND_MODULES, build_parser, main
from evse.logsetup import bind_context, configure_logging, log_context, reclaim_root_logger, reset_logging


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _clean_context():
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    reset_logging()


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_context_and_hide_secrets() -> None:
    out = io.StringIO()
    configure_logging("info", "auto", out)  # not a terminal → JSON
    log = structlog.get_logger("evse.test")
    log.info("idle")
    with log_context(connector_id=2, session_id="s-42", stage="precharge"):
        log.info("voltage matched", voltage_v=401.5, password="hunter2", auth={"token": "abc", "user": "op"})
    log.debug("not shown at info")
    logging.getLogger("websockets.client").warning("connection lost")
    first, second, third = lines(out)
    assert first["event"] == "idle" and first["connector_id"] is None and first["session_id"] is None
    assert first["level"] == "info" and first["logger"] == "evse.test" and str(first["timestamp"]).endswith("Z")
    assert second["connector_id"] == 2 and second["session_id"] == "s-42" and second["stage"] == "precharge"
    assert second["voltage_v"] == 401.5
    assert second["password"] == "***" and second["auth"] == {"token": "***", "user": "op"}
    assert "hunter2" not in out.getvalue()
    assert third["logger"] == "websockets.client" and third["level"] == "warning"


async def test_context_is_carried_into_tasks_started_after_binding() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    bind_context(connector_id=3, session_id="abc")

    async def child() -> None:
        structlog.get_logger("evse.child").info("in child", stage="energy_transfer")

    await asyncio.create_task(child())
    (event,) = lines(out)
    assert event["connector_id"] == 3 and event["session_id"] == "abc" and event["stage"] == "energy_transfer"


def test_exceptions_are_one_json_line() -> None:
    out = io.StringIO()
    configure_logging("info", "json", out)
    try:
        raise ValueError("bad frame")
    except ValueError:
        structlog.get_logger("evse.test").exception("decode failed")
    (event,) = lines(out)
    assert event["level"] == "error" and "ValueError: bad frame" in str(event["exception"])


def test_console_format_on_a_terminal() -> None:
    out = Tty()
    configure_logging("info", "auto", out)
    structlog.get_logger("evse.test").info("plugged", connector_id=1)
    text = out.getvalue()
    assert "plugged" in text and "\x1b[" in text  # coloured
    with pytest.raises(json.JSONDecodeError):
        json.loads(text.splitlines()[0])


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"evse {__version__}"


def test_help_lists_every_subcommand_with_a_description() -> None:
    proc = subprocess.run([sys.executable, "-m", "evse", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert "warning" not in proc.stderr  # every listed subcommand module imports
    parser = build_parser()
    choices = parser._subparsers._group_actions[0]._choices_actions  # type: ignore[union-attr]
    names = {action.dest for action in choices}
    assert {"run", "config"} <= names
    for action in choices:
        assert action.help, f"subcommand {action.dest} has no one-line description"
        assert action.dest in proc.stdout


def test_every_subcommand_module_registers() -> None:
    import importlib

    for name in SUBCOMMAND_MODULES:
        assert callable(importlib.import_module(name).register), name


def test_no_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert "usage: evse" in capsys.readouterr().out


def test_a_library_configuring_the_root_logger_is_undone() -> None:
    out, hijack = io.StringIO(), io.StringIO()
    configure_logging("info", "json", out)
    foreign = logging.StreamHandler(hijack)  # what iso15118's logging.conf does on import
    logging.getLogger().addHandler(foreign)
    logging.getLogger().setLevel(logging.DEBUG)
    reclaim_root_logger()
    structlog.get_logger("evse.test").debug("hidden")
    # a logger name no other test tunes (the CCS SECC quiets "iso15118" process-wide when it starts)
    logging.getLogger("somelib.server").info("SECC up")
    logging.getLogger("transitions.core").info("Finished processing state")
    assert hijack.getvalue() == ""
    (event,) = lines(out)
    assert event["logger"] == "somelib.server" and event["event"] == "SECC up"


def test_a_library_configuring_logging_on_import_leaves_ours_alone(tmp_path: Path) -> None:
    """`root_logging_kept()`: what iso15118 does when imported (fileConfig with a stdout handler, root level) has no
    effect inside the block, and the root logger's handlers and level are ours afterwards."""
    import logging
    import logging.config

    from evse.logsetup import root_logging_kept

    conf = tmp_path / "logging.conf"
    conf.write_text(
        "[loggers]\nkeys=root\n[handlers]\nkeys=h\n[formatters]\nkeys=f\n"
        "[logger_root]\nlevel=DEBUG\nhandlers=h\n[handler_h]\nclass=StreamHandler\nlevel=DEBUG\nformatter=f\n"
        "args=(sys.stdout,)\n[formatter_f]\nformat=%(message)s\n"
    )
    root = logging.getLogger()
    ours = logging.NullHandler()
    root.addHandler(ours)
    before_handlers, before_level = list(root.handlers), root.level
    try:
        with root_logging_kept():
            logging.config.fileConfig(str(conf), disable_existing_loggers=False)
            logging.config.dictConfig({"version": 1, "root": {"level": "DEBUG"}})
            root.setLevel(logging.DEBUG)
            root.addHandler(logging.StreamHandler())
        assert root.handlers == before_handlers and root.level == before_level
        assert logging.config.fileConfig.__name__ == "fileConfig"  # restored
    finally:
        root.removeHandler(ours)
