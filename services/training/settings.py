from __future__ import annotations

from pydantic import Field

from shared.runtime.settings import ServiceSettings


class TrainingSettings(ServiceSettings):
    attendance_threshold_percent: int = Field(
        80, ge=0, le=100, description="Share of required minutes a trainee must attend")
