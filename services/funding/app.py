"""Funding's composition root."""

from __future__ import annotations

from shared.runtime.service import ServiceSpec

SPEC = ServiceSpec(
    name="funding",
    title="Songji funding",
    description="The funding service.",
)
