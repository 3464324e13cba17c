"""What makes two requests with one Idempotency-Key "the same request": method, path, query
and the JSON body in canonical form (key order and spacing do not count); and the sealing of
a stored answer under the request, which only the same body opens."""

from __future__ import annotations

import pytest
from cryptography.fernet import InvalidToken
from starlette.requests import Request

from shared.runtime.idempotency import IdempotentRequest, idempotent_request


async def fingerprinted(method: str, path: str, body: bytes, query: str = "",
                        key: str | None = "k1") -> IdempotentRequest:
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
             "headers": [(b"content-type", b"application/json")]}
    return await idempotent_request(Request(scope, receive), key)


async def test_the_same_json_in_another_order_is_the_same_request() -> None:
    a = await fingerprinted("POST", "/batches", b'{"a": 1, "b": [1, 2]}')
    b = await fingerprinted("POST", "/batches", b'{"b":[1,2],"a":1}')
    assert a.fingerprint == b.fingerprint


@pytest.mark.parametrize(("method", "path", "body", "query"), [
    ("POST", "/batches", b'{"a": 2, "b": [1, 2]}', ""),
    ("POST", "/batches", b'{"a": 1, "b": [2, 1]}', ""),
    ("POST", "/policies", b'{"a": 1, "b": [1, 2]}', ""),
    ("PUT", "/batches", b'{"a": 1, "b": [1, 2]}', ""),
    ("POST", "/batches", b'{"a": 1, "b": [1, 2]}', "x=1"),
])
async def test_anything_else_is_another_request(method: str, path: str, body: bytes,
                                                query: str) -> None:
    first = await fingerprinted("POST", "/batches", b'{"a": 1, "b": [1, 2]}')
    assert (await fingerprinted(method, path, body, query)).fingerprint != first.fingerprint


async def test_an_answer_sealed_under_the_request_opens_only_with_the_same_body() -> None:
    first = await fingerprinted("POST", "/x", b'{"accounts": {"p": "6217000011112222"}}')
    sealed = first.request_sealer().seal(b"the bank file")
    assert b"bank file" not in sealed
    same = await fingerprinted("POST", "/x", b'{"accounts":{"p":"6217000011112222"}}')
    assert same.request_sealer().open(sealed) == b"the bank file"
    other = await fingerprinted("POST", "/x", b'{"accounts": {"p": "6217000099998888"}}')
    with pytest.raises(InvalidToken):
        other.request_sealer().open(sealed)
