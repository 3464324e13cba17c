"""How every service's API answers input it cannot read or store: 422, like any malformed input."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Depends, FastAPI
from pydantic import BaseModel

from shared.runtime.errors import install_error_handlers, refuse_nul_characters


class Body(BaseModel):
    amount_fen: int


def app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.post("/things")
    async def post_thing(body: Body) -> dict[str, int]:
        return {"amount_fen": body.amount_fen}

    return app


async def post(content: bytes) -> httpx.Response:
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/things", content=content,
                                 headers={"content-type": "application/json"})


async def test_a_body_that_is_not_utf8_is_malformed_input_not_a_bad_request() -> None:
    response = await post(b"\x8f\x01\x19")  # found by the API fuzzing: FastAPI said 400
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


async def test_other_http_errors_keep_their_status() -> None:
    assert (await post(b"{")).status_code == 422
    transport = httpx.ASGITransport(app=app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/nowhere")).status_code == 404
        assert (await client.get("/things")).status_code == 405


async def test_a_nul_character_anywhere_is_malformed_input_named_where() -> None:
    app = FastAPI(dependencies=[Depends(refuse_nul_characters)])
    install_error_handlers(app)

    @app.post("/things/{thing_id}")
    async def post_thing(thing_id: str, body: dict[str, Any]) -> dict[str, str]:
        return {"thing_id": thing_id}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.post("/things/a%00b?note=x%00", json={
            "names": ["ok", "n\u0000"], "k\u0000": 1, "escaped": "\\u0000 is fine"})
        assert answer.status_code == 422
        assert [e["loc"] for e in answer.json()["detail"]] == [
            ["path", "thing_id"], ["query", "note"], ["body", "names", 1], ["body", "k\u0000"]]
        fine = await client.post("/things/a", json={"escaped": "\\u0000 is fine"})
        assert fine.status_code == 200
