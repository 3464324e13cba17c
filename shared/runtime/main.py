"""Run one service process: ``python -m services.<name>``."""

from __future__ import annotations

import uvicorn
from pydantic import ValidationError

from shared.runtime.service import ServiceSpec, create_app


def run_service(spec: ServiceSpec) -> None:
    try:
        settings = spec.settings_class()
    except ValidationError as refused:  # the settings hide their values from their errors
        raise SystemExit(f"{spec.name} does not start: its settings are refused\n{refused}"
                         ) from None
    app = create_app(spec, settings)
    # log_config=None: uvicorn's loggers go through our structlog set-up.
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False)
