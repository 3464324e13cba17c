"""The webhook verification code docs/integrators.md gives integrators, run as written against
the headers Songji's sender makes: Python (the ``standardwebhooks`` package), Node (plain
``node:crypto``, run by the machine's node; skipped where there is none) and the deprecated
``X-Songji-Signature`` check."""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from services.notifications.domain import webhooks as signing

DOCS = Path(__file__).resolve().parents[3] / "docs" / "integrators.md"


def code_blocks(heading: str, language: str) -> list[str]:
    """The ``language`` code blocks of the docs' section under ``heading``."""
    text = DOCS.read_text("utf-8")
    start = text.index(f"\n{heading}\n")
    following = re.search(r"\n#{1,3} ", text[start + len(heading) + 2:])
    section = text[start:start + len(heading) + 2 + (following.start() if following else
                                                     len(text))]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


STANDARD = "### Verifying the signature (Standard Webhooks)"
DEPRECATED = "### The `X-Songji-Signature` header (deprecated)"


def delivery(secret: str, *, at: int | None = None) -> tuple[dict[str, str], bytes]:
    """What the sender posts (webhooks.py): headers and body, signed with ``secret``."""
    body = signing.encode({"specversion": "1.0", "id": "0b6e", "type": "t", "data": {"w": "工"}})
    timestamp = int(time.time()) if at is None else at
    headers = {**signing.standard_headers(secret, "8a27", timestamp, body),
               signing.TIMESTAMP_HEADER: str(timestamp),
               signing.SIGNATURE_HEADER: signing.signature(secret, timestamp, body)}
    return headers, body


def legacy_secret() -> str:
    """A secret as issued before Standard Webhooks, with URL-safe characters in it."""
    return "whsec_" + base64.urlsafe_b64encode(bytes([0xFB, 0xFF] * 16)).decode().rstrip("=")


def test_the_python_example_accepts_songjis_deliveries_and_nothing_else() -> None:
    [example, conversion] = code_blocks(STANDARD, "python")
    secret = signing.new_secret()
    scope: dict[str, Any] = {"SECRET": secret}
    exec(example, scope)
    headers, body = delivery(secret)
    assert scope["accept"](headers, body) == json.loads(body)
    assert scope["accept"](headers, body.replace(b"0b6e", b"0b6f")) is None
    assert scope["accept"](delivery(secret, at=int(time.time()) - 301)[0], body) is None
    assert scope["accept"](delivery(signing.new_secret())[0], body) is None

    old = legacy_secret()
    converted: dict[str, Any] = {"old": old}
    exec(conversion, converted)
    scope = {"SECRET": converted["secret"]}
    exec(example, scope)
    headers, body = delivery(old)
    assert scope["accept"](headers, body) == json.loads(body)


def test_the_deprecated_header_check_still_verifies() -> None:
    [example] = code_blocks(DEPRECATED, "python")
    scope: dict[str, Any] = {}
    exec(example, scope)
    secret = signing.new_secret()
    headers, body = delivery(secret)
    assert scope["verify_deprecated"](secret, headers, body)
    assert not scope["verify_deprecated"](secret, headers, body + b" ")


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on this machine")
def test_the_node_example_accepts_songjis_deliveries_and_nothing_else(tmp_path: Path) -> None:
    [example] = code_blocks(STANDARD, "js")
    (tmp_path / "verify.js").write_text(example, "utf-8")
    (tmp_path / "run.js").write_text(
        'const { verifySongji } = require("./verify.js");\n'
        'const cases = JSON.parse(require("node:fs").readFileSync(0, "utf8"));\n'
        "console.log(JSON.stringify(cases.map(([secret, headers, body]) =>\n"
        '  verifySongji(secret, headers, Buffer.from(body, "base64")))));\n', "utf-8")
    secret, old = signing.new_secret(), legacy_secret()
    headers, body = delivery(secret)
    stale, _ = delivery(secret, at=int(time.time()) - 301)
    other = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    old_headers, _ = delivery(old)
    cases = [(secret, headers, body), (other, headers, body),
             (secret, headers, body.replace(b"0b6e", b"0b6f")), (secret, stale, body),
             (secret, {**headers, "webhook-id": "8a28"}, body), (old, old_headers, body)]
    run = subprocess.run(
        [shutil.which("node") or "node", str(tmp_path / "run.js")], cwd=tmp_path,
        input=json.dumps([(s, h, base64.b64encode(b).decode()) for s, h, b in cases]),
        capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(run.stdout) == [True, False, False, False, False, True]
