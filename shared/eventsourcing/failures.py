"""Which failures are the infrastructure's (wait them out) and which are the message's (give up).

A consumer that dead-letters a valid event because its database was away for a few seconds
has lost that event; a relay that retries an event the broker refuses for good stops for
ever. The two questions are answered here once, for the inbox and the relay alike.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka import errors as kafka_errors

# SQLSTATE classes that say nothing about the statement, only about the server or the
# connection: 08 connection exception, 40 transaction rollback (serialization failure,
# deadlock), 53 insufficient resources (too many connections, disk full, out of memory),
# 57 operator intervention (admin shutdown, crash shutdown, cannot connect now, a
# statement cancelled by its timeout).
_TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57"})

# 55000 is "object not in prerequisite state"; it is the server's answer to a connection
# attempt while the database does not accept connections (ALTER DATABASE ... ALLOW_CONNECTIONS
# false), and is only taken as an outage with that message.
_NOT_ACCEPTING_CONNECTIONS = "not currently accepting connections"

# Single states outside those classes that are the server's condition, not the statement's:
# 25006 a read-only transaction (writes reaching a primary demoted in a failover), 55P03 a
# lock not available (a lock timeout while another transaction holds it).
_TRANSIENT_SQLSTATES = frozenset({"25006", "55P03"})

# The client's own refusals of the work (an argument of the wrong type or out of range, a
# feature or setting it does not support): InterfaceErrors, but no outage; waiting would
# stop the consumer for ever on one bad message.
_CLIENT_REFUSALS: tuple[type[Exception], ...] = (
    asyncpg.exceptions._base.DataError,
    asyncpg.exceptions._base.ClientConfigurationError,
    asyncpg.exceptions._base.UnsupportedClientFeatureError,
    asyncpg.exceptions._base.UnsupportedServerFeatureError,
)

_CHAIN_DEPTH = 8  # how far along __cause__ / __context__ a wrapped failure is looked for

class Unpublishable(Exception):
    """An event that cannot be made into a record at all (its content fails to serialise):
    as final as a refusal by the broker."""


# What a broker refuses for one record whatever is retried: the record itself is wrong for
# this topic (too large, an invalid timestamp or format) or the topic's name is invalid. A
# corrupt record (a checksum that failed on the way) is retried: it is the network's doing.
# Failures that concern the cluster (not authorised, timeouts, no leader, connection lost)
# are not here: they would refuse every record alike, and are retried.
REFUSED_FOR_GOOD: tuple[type[Exception], ...] = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
    kafka_errors.InvalidTopicError,
    kafka_errors.InvalidTimestampError,
    kafka_errors.UnsupportedForMessageFormatError,
    Unpublishable,
)


def is_infrastructure_failure(exc: BaseException) -> bool:
    """True when ``exc`` (or a failure it wraps) says the database or the network is away,
    overloaded or restarting, rather than that the work itself is wrong."""
    seen: BaseException | None = exc
    for _ in range(_CHAIN_DEPTH):
        if seen is None:
            return False
        if _is_infrastructure(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _is_infrastructure(exc: BaseException) -> bool:
    if isinstance(exc, _CLIENT_REFUSALS):
        return False
    if isinstance(exc, OSError | TimeoutError | asyncio.TimeoutError | asyncpg.InterfaceError):
        # OSError: refused, reset, unreachable. InterfaceError: the client's side of a lost
        # connection (ConnectionDoesNotExistError) or a pool closing under it.
        return True
    if isinstance(exc, asyncpg.PostgresError):
        sqlstate = getattr(exc, "sqlstate", None) or ""
        if sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES or sqlstate in _TRANSIENT_SQLSTATES:
            return True
        return sqlstate == "55000" and _NOT_ACCEPTING_CONNECTIONS in str(exc)
    return False


def is_refused_for_good(exc: BaseException) -> bool:
    """True when the broker will never take this record, however often it is sent."""
    return isinstance(exc, REFUSED_FOR_GOOD)
