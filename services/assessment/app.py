"""Assessment's composition root."""

from __future__ import annotations

from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="assessment",
    title="Songji assessment",
    description="The assessment service.",
)
