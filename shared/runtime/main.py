"""Run one service process: ``python -m services.<name>``."""

from __future__ import annotations

import uvicorn

from shared.runtime.service import ServiceSpec, create_app


def run_service(spec: ServiceSpec) -> None:
    settings = spec.settings_class()
    app = create_app(spec, settings)
    # log_config=None: uvicorn's loggers go through our structlog set-up.
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False)
