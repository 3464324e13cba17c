"""Where the Learning Record Store is, how to reach it, and how statements are retried
(prefix ``SONGJI_``)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from shared.runtime.settings import ServiceSettings


class XapiSettings(ServiceSettings):
    xapi_lrs_url: str | None = Field(
        None, description="The LRS's xAPI endpoint, e.g. https://lrs.example.org/xAPI/ "
                          "(SONGJI_XAPI_LRS_URL); statements go to <url>/statements. Unset: "
                          "statements are kept and sent once it is set")
    xapi_lrs_username: str | None = Field(
        None, description="HTTP Basic user at the LRS (SONGJI_XAPI_LRS_USERNAME)")
    xapi_lrs_password: SecretStr | None = Field(
        None, description="HTTP Basic password at the LRS (SONGJI_XAPI_LRS_PASSWORD)")
    xapi_home_page: str = Field(
        "https://songji.example.org", pattern=r"^https?://[^\s]+$",
        description="The programme's home page (SONGJI_XAPI_HOME_PAGE): the homePage of every "
                    "actor's account (name = worker id) and the root of activity ids")
    xapi_batch: int = Field(50, ge=1, le=500, description="Statements per request")
    xapi_attempts: int = Field(
        20, ge=1, le=1000, description="Attempts per statement while the LRS is unreachable "
                                       "or answers 5xx, 401, 403, 408 or 429")
    xapi_backoff_seconds: float = Field(1.0, ge=0, description="First retry wait; doubles")
    xapi_backoff_max_seconds: float = Field(300.0, ge=0)
    xapi_poll_seconds: float = Field(1.0, gt=0, description="How often the sender looks for "
                                                            "statements when it has none")
    xapi_timeout_seconds: float = Field(10.0, gt=0, le=120)
