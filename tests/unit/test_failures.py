"""Which failures a consumer waits out and which a relay quarantines (pure classification)."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka import errors as kafka_errors

from shared.eventsourcing.failures import (
    Unpublishable,
    is_infrastructure_failure,
    is_refused_for_good,
)


def postgres_error(cls: type[asyncpg.PostgresError], message: str = "x") -> Exception:
    return cls(message)


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError(111, "refused"),
    OSError("network unreachable"),
    TimeoutError(),
    asyncpg.InterfaceError("pool is closing"),
    postgres_error(asyncpg.ConnectionDoesNotExistError),
    postgres_error(asyncpg.CannotConnectNowError),
    postgres_error(asyncpg.AdminShutdownError),
    postgres_error(asyncpg.TooManyConnectionsError),
    postgres_error(asyncpg.SerializationError),
    postgres_error(asyncpg.DeadlockDetectedError),
    postgres_error(asyncpg.QueryCanceledError),
    postgres_error(asyncpg.ObjectNotInPrerequisiteStateError,
                   'database "x" is not currently accepting connections'),
    postgres_error(asyncpg.ReadOnlySQLTransactionError),  # a failover's demoted primary
    postgres_error(asyncpg.LockNotAvailableError),
], ids=lambda e: type(e).__name__)
def test_the_infrastructure_failing_is_waited_out(exc: Exception) -> None:
    assert is_infrastructure_failure(exc)


@pytest.mark.parametrize("exc", [
    postgres_error(asyncpg.UndefinedTableError),
    postgres_error(asyncpg.UniqueViolationError),
    postgres_error(asyncpg.CheckViolationError),
    postgres_error(asyncpg.ObjectNotInPrerequisiteStateError, "some other state"),
    ValueError("a bug"),
    KeyError("w-1"),
    # the client refusing an argument (an InterfaceError): waiting would stop for ever
    asyncpg.exceptions._base.DataError("invalid input for query argument $1"),
], ids=lambda e: type(e).__name__)
def test_a_failure_of_the_work_itself_is_not(exc: Exception) -> None:
    assert not is_infrastructure_failure(exc)


def test_an_outage_wrapped_in_another_error_is_still_an_outage() -> None:
    try:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError as inner:
            raise RuntimeError("could not apply") from inner
    except RuntimeError as outer:
        assert is_infrastructure_failure(outer)


@pytest.mark.parametrize(("exc", "for_good"), [
    (kafka_errors.MessageSizeTooLargeError(), True),
    (kafka_errors.RecordTooLargeError(), True),
    (kafka_errors.InvalidTopicError(), True),
    (kafka_errors.CorruptRecordException(), False),  # damaged on the way: sent again
    (Unpublishable("ValueError('cannot serialise')"), True),
    (kafka_errors.KafkaTimeoutError(), False),
    (kafka_errors.KafkaConnectionError(), False),
    (kafka_errors.NotLeaderForPartitionError(), False),
    (kafka_errors.TopicAuthorizationFailedError(), False),  # every record alike: retried
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v))
def test_only_what_concerns_the_record_is_refused_for_good(exc: Exception,
                                                           for_good: bool) -> None:
    assert is_refused_for_good(exc) is for_good
