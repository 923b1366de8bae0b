"""Logging: structlog over the standard library, one format for our events and third-party ones.

* JSON lines on stdout when stdout is not a terminal (journald, Docker and log shippers read them), coloured
  readable lines on a terminal; `[logging] format` can force either.
* Context: `connector_id`, `session_id` and `stage` are bound with `bind_context()` (structlog context variables)
  and carried by every event logged from that task and the tasks it starts; JSON events always carry the three
  keys (null when unbound) so consumers can rely on the shape.
* Secrets never reach a log line: any event key that names a secret (password, token, …) is replaced by `***`.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from evse.config.secrets import REDACTED, is_secret_name

#: context keys every JSON event carries (None when not bound)
CONTEXT_KEYS = ("connector_id", "session_id", "stage")

_handler: logging.Handler | None = None
_level = logging.INFO

#: libraries whose INFO records are internal chatter (transitions logs every state callback)
QUIET_LOGGERS = ("transitions",)


def redact_secrets(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key, value in list(event_dict.items()):
        if is_secret_name(key) and value not in ("", None):
            event_dict[key] = REDACTED
        elif isinstance(value, MutableMapping):
            event_dict[key] = _redact_mapping(value)
    return event_dict


def _redact_mapping(mapping: MutableMapping[str, Any]) -> dict[str, Any]:
    return {
        k: REDACTED
        if is_secret_name(str(k)) and v not in ("", None)
        else (_redact_mapping(v) if isinstance(v, MutableMapping) else v)
        for k, v in mapping.items()
    }


def add_context_keys(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key in CONTEXT_KEYS:
        event_dict.setdefault(key, None)
    return event_dict


def drop_empty_context(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    for key in CONTEXT_KEYS:
        if event_dict.get(key, 0) is None:
            del event_dict[key]
    return event_dict


def use_json(format_name: str, stream: TextIO) -> bool:
    if format_name == "json":
        return True
    if format_name == "console":
        return False
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(level: str = "info", format_name: str = "auto", stream: TextIO | None = None) -> None:
    """Set up structlog and the standard library's root logger. Safe to call again (tests, reconfiguration)."""
    global _handler
    stream = stream if stream is not None else sys.stdout
    as_json = use_json(format_name, stream)
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),  # wall-clock ok: log timestamps, not control
        redact_secrets,
    ]
    renderer: Processor
    if as_json:
        final: list[Processor] = [
            add_context_keys,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(default=str),
        ]
    else:
        final = [drop_empty_context, structlog.dev.ConsoleRenderer(colors=True)]
    renderer = final[-1]
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final[:-1], renderer],
    )
    global _level
    _handler = logging.StreamHandler(stream)
    _handler.setFormatter(formatter)
    _level = logging.getLevelName(level.upper())
    reclaim_root_logger()
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(_level, logging.WARNING))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def reclaim_root_logger() -> None:
    """Make our handler the root logger's only one again. Some libraries configure the root logger when they
    are imported (iso15118 loads its own logging.conf with a stdout handler); the daemon calls this after building
    the station, so every record still comes out once, in our format."""
    if _handler is None:
        return
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler is not _handler:
            root.removeHandler(handler)
    if _handler not in root.handlers:
        root.addHandler(_handler)
    root.setLevel(_level)


@contextmanager
def root_logging_kept() -> Iterator[None]:
    """Import libraries that configure logging on import inside this block (iso15118 runs `logging.config.fileConfig`
    with a stdout handler): their configuration calls do nothing, and the root logger's handlers and level are as
    before afterwards. Safe in a worker thread while the loop thread logs: nothing is removed meanwhile."""
    import logging.config

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    originals = logging.config.fileConfig, logging.config.dictConfig

    def ignored(*args: Any, **kwargs: Any) -> None:
        return None

    logging.config.fileConfig = ignored
    logging.config.dictConfig = ignored
    try:
        yield
    finally:
        logging.config.fileConfig, logging.config.dictConfig = originals
        for handler in list(root.handlers):
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)


def bind_context(**values: Any) -> None:
    """Bind context (e.g. `connector_id=1, session_id="…", stage="precharge"`) for the current task and the
    tasks it creates from now on."""
    structlog.contextvars.bind_contextvars(**values)


def unbind_context(*keys: str) -> None:
    structlog.contextvars.unbind_contextvars(*keys)


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Bind context for the duration of a block (restoring what was bound before)."""
    with structlog.contextvars.bound_contextvars(**values):
        yield


def reset_logging() -> None:
    """Undo `configure_logging` (tests): structlog defaults, our root handler removed."""
    global _handler
    if _handler is not None:
        logging.getLogger().removeHandler(_handler)
        _handler = None
    logging.getLogger().setLevel(logging.WARNING)
    structlog.reset_defaults()
