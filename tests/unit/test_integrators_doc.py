"""The signature check shown to integrators (docs/integrators.md) accepts what a relay signs
and refuses what the services' own readers refuse."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shared.eventsourcing.authenticity import PROOF_HEADER, SIGNATURE_HEADER, sign_batch
from shared.eventsourcing.signing import SigningKey, new_key_pair
from tests.support import TEST_PRIVATE_KEYS, TEST_PUBLIC_KEYS, signed
from tests.unit.test_authenticity import attendance

DOC = Path(__file__).parents[2] / "docs" / "integrators.md"


def test_the_documented_check_agrees_with_the_services() -> None:
    [code] = [block for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
              if "def is_genuine" in block]
    names: dict[str, Any] = {"SONGJI_PUBLIC_KEYS": TEST_PUBLIC_KEYS}
    exec(code, names)  # the example as an integrator would paste it
    is_genuine = names["is_genuine"]
    value, headers = signed(attendance())
    assert is_genuine("songji.training.events", headers, value)
    assert not is_genuine("songji.enrolment.events", headers, value)
    assert not is_genuine("songji.training.events", headers, value + b" ")
    assert not is_genuine("songji.training.events",
                          [h for h in headers if h[0] != SIGNATURE_HEADER], value)
    assert not is_genuine("songji.training.events",
                          signed(attendance(), key=new_key_pair()[0])[1], value)
    batch = [(attendance().kafka_headers(), attendance().kafka_value()) for _ in range(5)]
    sign_batch(batch, SigningKey(TEST_PRIVATE_KEYS["training"]))
    assert all(is_genuine("songji.training.events", h, v) for h, v in batch)
    (first, value), (second, _) = batch[0], batch[1]
    assert not is_genuine("songji.training.events", [
        (k, dict(second)[k] if k == PROOF_HEADER else v) for k, v in first], value)
