"""Run one service process: ``python -m services.<name>``."""

from __future__ import annotations

import gc
from typing import Any

import uvicorn
from pydantic import ValidationError

from shared.runtime.service import ServiceSpec, create_app

# The request line (method, path and query) beside the headers.
REQUEST_LINE_BYTES = 8 * 1024


def run_service(spec: ServiceSpec) -> None:
    try:
        settings = spec.settings_class()
    except ValidationError as refused:  # the settings hide their values from their errors
        raise SystemExit(f"{spec.name} does not start: its settings are refused\n{refused}"
                         ) from None
    app = create_app(spec, settings)
    # What importing and building the app made (modules, routes, schemas: a few hundred
    # thousand objects that live as long as the process) leaves the collector's generations:
    # a full collection no longer walks it, so it no longer holds the event loop for 25-100 ms
    # when a burst of work (a recompute job's events) sets one off (docs/benchmarks.md).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, **server_options(host=settings.host, port=settings.port,
                                      max_header_block_bytes=settings.max_header_block_bytes))


def server_options(*, host: str, port: int, max_header_block_bytes: int) -> dict[str, Any]:
    """How every service's uvicorn server runs (the benchmarks run their baselines so too)."""
    # log_config=None: uvicorn's loggers go through our structlog set-up. h11 bounds the
    # request line and headers together (answered 400 above it); the app's own limits
    # (shared/runtime/limits.py) answer 431 for headers within it but too many or too long.
    return {"host": host, "port": port, "log_config": None, "access_log": False,
            "http": "h11",
            "h11_max_incomplete_event_size": max_header_block_bytes + REQUEST_LINE_BYTES}
