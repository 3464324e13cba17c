"""Personal data at rest: sealed with Fernet (AES-128-CBC + HMAC), found by a keyed index.

The national ID number is never stored in clear. To find a worker by it (a second
registration), we keep an HMAC of the number under a separate key: equal numbers give equal
indexes, and the index reveals nothing without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet


class PersonalDataVault:
    def __init__(self, personal_data_key: str, lookup_key: str) -> None:
        self._fernet = Fernet(personal_data_key.encode())
        self._lookup_key = lookup_key.encode()

    def seal(self, record: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(record, ensure_ascii=False).encode())

    def open(self, sealed: bytes) -> dict[str, Any]:
        return json.loads(self._fernet.decrypt(sealed))

    def lookup_index(self, national_id: str) -> bytes:
        return hmac.new(self._lookup_key, national_id.encode(), hashlib.sha256).digest()


def new_key() -> str:
    return Fernet.generate_key().decode()
