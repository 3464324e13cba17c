"""Every list a service answers comes one page at a time, under one convention.

A list route takes ``limit`` (how many items, ``DEFAULT_PAGE_SIZE`` unless given, at most
``MAX_PAGE_SIZE``: 422 above) and ``after`` (the cursor of the page before; absent for the
first). Items are in the order of a unique key, and a page holds the items whose key comes
after the cursor's, so paging while items are added returns every item that existed
throughout exactly once. When more items follow, the answer carries
``Link: </path?...&after=CURSOR&limit=N>; rel="next"`` (RFC 8288, a reference relative to the
service); the last page has no such link. The body is the list itself, as before paging, so a
caller that wants everything follows ``rel="next"`` (``every_page``).

The cursor is opaque to callers: the last item's key, as base64url JSON. A cursor that does
not decode to a key is malformed input (422).

A list kept in a table is paged in SQL (``answer_page``): ``WHERE (key) > (cursor) ORDER BY key
LIMIT page.fetch_size()`` on an index whose columns are the filters then the key, so a page
reads its own rows only. The first page is a query of its own, without the cursor condition:
``$1 IS NULL OR (key) > ($1, ...)`` in one text is not an index condition, and once a
prepared statement's plan is generic every page would scan from the start. ``one_page`` is
for lists held in memory whole and bounded by nature (a catalogue in code, a derived ledger),
never for a query's whole result.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

import httpx
from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_CURSOR_LENGTH = 1024

Key = tuple[Any, ...]
T = TypeVar("T")


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: Key | None  # the key of the previous page's last item

    def fetch_size(self) -> int:
        """How many rows to ask a query for: one more than the page, to know if more follow."""
        return self.limit + 1

    def after_as(self, *parts: Callable[[Any], Any]) -> tuple[Any, ...]:
        """The cursor's key converted part by part (e.g. ``datetime.fromisoformat``, ``UUID``)
        for a query's parameters; all None on the first page. 422 when it does not fit."""
        if self.after is None:
            return (None,) * len(parts)
        if len(self.after) != len(parts):
            raise _bad_cursor()
        try:
            return tuple(convert(value) for convert, value in zip(parts, self.after, strict=True))
        except (TypeError, ValueError):
            raise _bad_cursor() from None


def encode_cursor(key: Key) -> str:
    text = json.dumps(list(key), separators=(",", ":"), ensure_ascii=False, default=str)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Key:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        key = None
    if not isinstance(key, list) or not all(isinstance(k, str | int) for k in key):
        raise _bad_cursor()
    return tuple(key)


def _bad_cursor() -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", "after"), "type": "bad_cursor",
                                    "msg": "Not a cursor this list gave"}])


def iso(moment: Any) -> str:
    """A timestamp or date as a key part (and back with ``datetime.fromisoformat``)."""
    return moment.isoformat()


async def page_request(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE,
                                description="Items per page")] = DEFAULT_PAGE_SIZE,
    after: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH, description=(
        "The cursor of the page before, from its Link rel=\"next\""))] = None,
) -> PageRequest:
    return PageRequest(limit=limit, after=None if after is None else decode_cursor(after))


Page = Annotated[PageRequest, Depends(page_request)]


def answer_page(rows: Sequence[T], key: Callable[[T], Key], page: PageRequest,
                request: Request, response: Response) -> list[T]:
    """The page out of ``rows``: items already after the cursor, in key order, at most
    ``page.fetch_size()`` of them (a query's ``LIMIT``). Sets the next link when more follow."""
    items = list(rows[:page.limit])
    if len(rows) > page.limit:
        query = dict(request.query_params) | {"after": encode_cursor(key(items[-1])),
                                             "limit": str(page.limit)}
        link = f"{request.url.path}?{urlencode(query)}"
        response.headers["Link"] = f'<{link}>; rel="next"'
    return items


def one_page(items: Sequence[T], key: Callable[[T], Key], page: PageRequest,
             request: Request, response: Response) -> list[T]:
    """A page of a list held in memory whole (a derived ledger, a catalogue): sorted by key,
    the items after the cursor."""
    ordered = sorted(items, key=key)
    if page.after is not None and ordered:
        sample = key(ordered[0])
        if [type(k) for k in page.after] != [type(k) for k in sample]:
            raise _bad_cursor()
        ordered = [x for x in ordered if key(x) > page.after]
    return answer_page(ordered[:page.fetch_size()], key, page, request, response)


def next_link(response: httpx.Response) -> str | None:
    """The next page's reference (path and query, relative to the service), or None."""
    link = response.links.get("next")
    return None if link is None else link["url"]


async def every_page(first: httpx.Response,
                     fetch: Callable[[str], Awaitable[httpx.Response]],
                     *, max_pages: int = 10_000) -> Any:
    """The whole of a paged answer, from its first page: ``fetch`` gets a next link's page
    (and raises on an error). A list is concatenated; so are an object's lists (a sheet's
    attendance, an assessment's results and certificates), its other fields are the first
    page's."""
    body = first.json()
    link = next_link(first)
    for _ in range(max_pages):
        if link is None:
            return body
        response = await fetch(link)
        body = _joined(body, response.json())
        link = next_link(response)
    raise RuntimeError(f"{first.url}: more than {max_pages} pages")


def _joined(body: Any, more: Any) -> Any:
    if isinstance(body, list):
        return body + more
    return {k: v + more.get(k, []) if isinstance(v, list) else v for k, v in body.items()}
