"""The ceiling of the command throughput benchmark: a bare FastAPI route, one INSERT a request.

``POST /classes/{class_id}/attendance`` takes the body training's route takes, validates it
with pydantic and inserts one row with one asyncpg statement from a pool like the services'
(``create_pool``'s defaults), answering 201 with the new id: no authentication, middleware,
event store, projection or domain rule. It runs as its own process under uvicorn with the
options every service runs with (``shared.runtime.main.server_options``):
``python -m bench.ceiling_app`` with ``BENCH_CEILING_DSN`` and ``BENCH_CEILING_PORT`` set.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI, Request, status
from pydantic import BaseModel

from shared.eventsourcing.db import create_pool
from shared.runtime.limits import DEFAULT_MAX_HEADER_BLOCK_BYTES
from shared.runtime.logging import configure_logging
from shared.runtime.main import server_options

DSN_ENV, PORT_ENV = "BENCH_CEILING_DSN", "BENCH_CEILING_PORT"

TABLE = """CREATE TABLE IF NOT EXISTS ceiling_attendance (
    attendance_id text PRIMARY KEY, class_id text NOT NULL, session_id text NOT NULL,
    worker_id text NOT NULL, minutes integer NOT NULL, method text NOT NULL)"""
INSERT = ("INSERT INTO ceiling_attendance (attendance_id, class_id, session_id, worker_id, "
          "minutes, method) VALUES ($1, $2, $3, $4, $5, $6)")


class Attendance(BaseModel):
    session_id: str
    worker_id: str
    minutes: int
    method: str


class AttendanceCreated(BaseModel):
    attendance_id: str


def create_ceiling_app(dsn: str) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(dsn)
        await pool.execute(TABLE)
        app.state.pool = pool
        try:
            yield
        finally:
            await pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/classes/{class_id}/attendance", status_code=status.HTTP_201_CREATED)
    async def post_attendance(class_id: str, body: Attendance,
                              request: Request) -> AttendanceCreated:
        attendance_id = uuid.uuid4().hex
        await request.app.state.pool.execute(INSERT, attendance_id, class_id, body.session_id,
                                             body.worker_id, body.minutes, body.method)
        return AttendanceCreated(attendance_id=attendance_id)

    @app.get("/ready")
    async def ready() -> dict[str, bool]:
        return {"ready": True}

    return app


def main() -> None:
    configure_logging("WARNING", "json")
    app = create_ceiling_app(os.environ[DSN_ENV])
    uvicorn.run(app, **server_options(host="127.0.0.1", port=int(os.environ[PORT_ENV]),
                                      max_header_block_bytes=DEFAULT_MAX_HEADER_BLOCK_BYTES))


if __name__ == "__main__":
    main()
