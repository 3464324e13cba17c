from __future__ import annotations

from pydantic import Field

from shared.runtime.settings import ServiceSettings


class AssessmentSettings(ServiceSettings):
    theory_pass_mark: int = Field(60, ge=0, le=100, description="Lowest passing theory score")
    practical_pass_mark: int = Field(60, ge=0, le=100,
                                     description="Lowest passing practical score")
