from __future__ import annotations

from pydantic import Field, SecretStr, field_validator

from shared.runtime.keys import check_keys, check_random_secret
from shared.runtime.settings import ServiceSettings


class EnrolmentSettings(ServiceSettings):
    personal_data_key: SecretStr = Field(
        description="Fernet key that encrypts workers' personal data at rest "
                    "(SONGJI_PERSONAL_DATA_KEY); several, comma-separated and newest first, "
                    "while a new one is rotated in (`songji keys rotate enrolment`)")
    lookup_key: SecretStr = Field(
        description="HMAC key of the national-ID lookup index (SONGJI_LOOKUP_KEY): at least "
                    "32 random bytes in hex or base64 (`songji keys new`); refused at start "
                    "otherwise, since a guessable key lets anyone with the index test numbers")
    subsidised_trainings_per_year: int = Field(
        1, ge=1, description="Subsidised trainings a worker may take per calendar year")

    @field_validator("personal_data_key")
    @classmethod
    def _is_a_key_ring(cls, value: SecretStr) -> SecretStr:
        check_keys(value.get_secret_value())
        return value

    @field_validator("lookup_key")
    @classmethod
    def _is_a_random_key(cls, value: SecretStr) -> SecretStr:
        check_random_secret(value.get_secret_value())
        return value
