"""Every service serves the event catalogue: the AsyncAPI document and each JSON Schema."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from shared.contracts.asyncapi import asyncapi_document
from shared.contracts.bounds import MAX_SHORT_TEXT
from shared.contracts.catalogue_html import catalogue_html
from shared.contracts.schemas import current_schemas
from shared.runtime.errors import NotFound

router = APIRouter(prefix="/events", tags=["event catalogue"])


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    return current_schemas()


@cache
def _page() -> str:
    return catalogue_html(asyncapi_document())


@router.get("/", summary="The event catalogue as a page to read", response_class=HTMLResponse)
async def catalogue_page() -> HTMLResponse:
    return HTMLResponse(_page())


@router.get("/asyncapi.json", summary="AsyncAPI 3.0 document of every public event")
async def asyncapi() -> dict[str, Any]:
    return asyncapi_document()


@router.get("/schemas", summary="The CloudEvents types of every public event")
async def schema_index() -> list[str]:
    return list(_schemas())


@router.get("/schemas/{ce_type}", summary="The JSON Schema of one event type's data",
            responses={404: {"description": "No such event type"}})
async def schema(ce_type: Annotated[str, Path(max_length=MAX_SHORT_TEXT)]) -> dict[str, Any]:
    found = _schemas().get(ce_type)
    if found is None:
        raise NotFound("unknown_event_type", f"No event type {ce_type!r}.")
    return found
