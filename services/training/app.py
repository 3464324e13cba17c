"""Training's composition root."""

from __future__ import annotations

from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="training",
    title="Songji training",
    description="The training service.",
)
