"""The base of every event contract and the registry from CloudEvents type to model.

An event is a frozen pydantic model named in the past tense. Its CloudEvents type is
``songji.<service>.<Name>.v<version>``: a breaking change is a new class with a new version,
so old and new can be read side by side.
"""

from __future__ import annotations

import functools
from typing import ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """A fact that happened. Payloads never carry personal data (name, national ID, phone)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ClassVar[str]
    schema_version: ClassVar[int] = 1

    @classmethod
    def event_name(cls) -> str:
        return cls.__name__

    @classmethod
    @functools.cache  # per class: writers ask for it with every event they append
    def ce_type(cls) -> str:
        return f"songji.{cls.service}.{cls.__name__}.v{cls.schema_version}"


class UnknownEventType(LookupError):
    """A CloudEvents type that no registered contract declares."""


E = TypeVar("E", bound=type[Event])

_REGISTRY: dict[str, type[Event]] = {}


def contract(service: str, version: int = 1):
    """Register an event class as the contract of ``service`` for one schema version."""

    def register(cls: E) -> E:
        cls.service = service
        cls.schema_version = version
        ce_type = cls.ce_type()
        existing = _REGISTRY.get(ce_type)
        if existing is not None and existing is not cls:
            raise ValueError(f"{ce_type} is declared twice: {existing!r} and {cls!r}")
        _REGISTRY[ce_type] = cls
        return cls

    return register


def model_for(ce_type: str) -> type[Event]:
    try:
        return _REGISTRY[ce_type]
    except KeyError:
        raise UnknownEventType(ce_type) from None


def registered_events() -> dict[str, type[Event]]:
    """Every registered contract by CloudEvents type, in a stable order."""
    return dict(sorted(_REGISTRY.items()))
