from __future__ import annotations

from pydantic import Field, SecretStr

from shared.runtime.settings import ServiceSettings


class EnrolmentSettings(ServiceSettings):
    personal_data_key: SecretStr = Field(
        description="Fernet key that encrypts workers' personal data at rest "
                    "(SONGJI_PERSONAL_DATA_KEY)")
    lookup_key: SecretStr = Field(
        description="HMAC key of the national-ID lookup index (SONGJI_LOOKUP_KEY)")
    subsidised_trainings_per_year: int = Field(
        1, ge=1, description="Subsidised trainings a worker may take per calendar year")
