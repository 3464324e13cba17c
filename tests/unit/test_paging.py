"""The paging convention's pieces (shared/runtime/paging.py) that need no database."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import httpx
import pytest
from fastapi.exceptions import RequestValidationError

from shared.runtime.paging import PageRequest, decode_cursor, encode_cursor, every_page


def test_a_cursor_is_the_key_it_was_made_from() -> None:
    key = ("2025-03-01T00:00:00+00:00", "新疆-class", 7)
    assert decode_cursor(encode_cursor(key)) == key


@pytest.mark.parametrize("cursor", ["!!", "bm90IGpzb24", encode_cursor(({"a": 1},))])
def test_a_cursor_no_list_gave_is_malformed_input(cursor: str) -> None:
    with pytest.raises(RequestValidationError):
        decode_cursor(cursor)


def test_a_cursor_is_converted_to_the_query_s_types_or_refused() -> None:
    moment, ident = datetime(2025, 3, 1, tzinfo=UTC), UUID(int=5)
    page = PageRequest(limit=10, after=(moment.isoformat(), str(ident)))
    assert page.after_as(datetime.fromisoformat, UUID) == (moment, ident)
    assert PageRequest(limit=10, after=None).after_as(int, str) == (None, None)
    with pytest.raises(RequestValidationError):
        page.after_as(int, UUID)
    with pytest.raises(RequestValidationError):
        page.after_as(str)


async def test_every_page_joins_lists_and_the_lists_of_an_object() -> None:
    def page(body: object, link: str | None) -> httpx.Response:
        headers = {"Link": f'<{link}>; rel="next"'} if link else {}
        return httpx.Response(200, json=body, headers=headers,
                              request=httpx.Request("GET", "http://s/x"))

    pages = {"/x?after=1": page({"id": "a", "results": [2], "certificates": []}, "/x?after=2"),
             "/x?after=2": page({"id": "a", "results": [3], "certificates": [9]}, None)}

    async def fetch(link: str) -> httpx.Response:
        return pages[link]

    first = page({"id": "a", "results": [1], "certificates": [8]}, "/x?after=1")
    assert await every_page(first, fetch) == {"id": "a", "results": [1, 2, 3],
                                              "certificates": [8, 9]}
    assert await every_page(page([1, 2], None), fetch) == [1, 2]
