"""structlog, configured once per process: JSON when not on a terminal, readable when on one.

Standard-library loggers (uvicorn, FastStream, aiokafka) go through the same renderer, and the
context bound per request or per message (correlation id, event id) is in every line.
Personal data is never logged: handlers log ids, never names, ID numbers or phones.
"""

from __future__ import annotations

import logging
import sys

import structlog

_configured = False

# No log line may carry a whole request body or a runaway traceback: any text in a line is
# cut to this many characters, keeping its start and its end (where a traceback names the
# error).
MAX_LOGGED_TEXT = 4000
_KEEP_END = 1000


def bound_text(_: object, __: str, event: dict) -> dict:
    """structlog processor: every string value of the line at most ``MAX_LOGGED_TEXT``."""
    for key, value in event.items():
        if isinstance(value, str) and len(value) > MAX_LOGGED_TEXT:
            cut = len(value) - MAX_LOGGED_TEXT
            event[key] = (f"{value[:MAX_LOGGED_TEXT - _KEEP_END]} [... {cut} characters cut"
                          f" ...] {value[-_KEEP_END:]}")
    return event


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    global _configured
    if _configured:
        return
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = (structlog.processors.JSONRenderer() if as_json
                else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty()))
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, bound_text, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    _configured = True
