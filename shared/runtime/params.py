"""Ids in paths and queries, bounded as the contracts bound them (shared/contracts/bounds.py),
so an id too long for any record is a 422 and the OpenAPI documents state the limit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from shared.contracts.bounds import MAX_ID_LENGTH

PathId = Annotated[str, Path(max_length=MAX_ID_LENGTH)]
QueryId = Annotated[str | None, Query(max_length=MAX_ID_LENGTH)]
