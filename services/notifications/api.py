"""Notifications' HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from services.notifications import projections
from shared.runtime.errors import NotFound
from shared.runtime.service import ServiceContext, context

router = APIRouter(tags=["workers"])


class KnownWorker(BaseModel):
    worker_id: str
    gender: str
    birth_year: int
    registered_at: datetime


@router.get("/workers", response_model=list[KnownWorker],
            summary="Workers notifications has learnt of from the bus")
async def list_workers(ctx: Annotated[ServiceContext, Depends(context)]) -> list[KnownWorker]:
    async with ctx.pool.acquire() as conn:
        return [KnownWorker(**row) for row in await projections.known_workers(conn)]


@router.get("/workers/{worker_id}", response_model=KnownWorker,
            responses={404: {"description": "Not (yet) known"}})
async def get_worker(worker_id: str,
                     ctx: Annotated[ServiceContext, Depends(context)]) -> KnownWorker:
    async with ctx.pool.acquire() as conn:
        row = await projections.known_worker(conn, worker_id)
    if row is None:
        raise NotFound("unknown_worker", f"No worker {worker_id} has been seen yet.")
    return KnownWorker(**row)
