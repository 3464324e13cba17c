"""Personal data at rest: sealed with Fernet (AES-128-CBC + HMAC), found by a keyed index.

The national ID number is never stored in clear. To find a worker by it (a second
registration), we keep an HMAC of the number under a separate key: equal numbers give equal
indexes, and the index reveals nothing without the key.

The sealing key can be rotated (``shared/runtime/keys.py``): the setting may hold several keys,
newest first, and ``songji keys rotate enrolment`` re-seals ``SEALED``. The lookup key cannot:
every index would have to be computed again from the numbers.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet

from services.enrolment.settings import EnrolmentSettings
from shared.runtime.keys import KeyRing, SealedColumn

SEALED = [SealedColumn("worker_identities", key="worker_id", column="sealed")]


class PersonalDataVault:
    def __init__(self, personal_data_keys: str, lookup_key: str) -> None:
        self._ring = KeyRing(personal_data_keys)
        self._lookup_key = lookup_key.encode()

    def seal(self, record: dict[str, Any]) -> bytes:
        return self._ring.seal(json.dumps(record, ensure_ascii=False).encode())

    def open(self, sealed: bytes) -> dict[str, Any]:
        return json.loads(self._ring.open(sealed))

    def lookup_index(self, national_id: str) -> bytes:
        return hmac.new(self._lookup_key, national_id.encode(), hashlib.sha256).digest()


def vault_for(settings: EnrolmentSettings) -> PersonalDataVault:
    return PersonalDataVault(settings.personal_data_key.get_secret_value(),
                             settings.lookup_key.get_secret_value())


def new_key() -> str:
    return Fernet.generate_key().decode()
