from __future__ import annotations

import pytest

from shared.auth.tokens import ENV_INLINE
from tests.orgs import organisations_json


@pytest.fixture(autouse=True)
def organisations(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every service under test knows the test organisations and their tokens."""
    monkeypatch.setenv(ENV_INLINE, organisations_json())
