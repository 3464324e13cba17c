"""How large any string or list the system accepts may be: every bound, in one place.

Every command, request and event contract takes its sizes from here, so the JSON Schemas
(``schemas/``) and the OpenAPI documents state them, and a request beyond one is a 422 that
stores nothing. They exist for two reasons: a store, a projection or a log must never have to
hold an input without limit, and an event must always fit in one broker message. The largest
event a valid command can produce is checked against the broker's limit
(``MAX_EVENT_BYTES``) by ``tests/unit/test_contract_bounds.py``, from these bounds alone.

The limits are generous for the domain (the ids clients choose were already limited to 64 or
80 characters, generated ids are 32 to 36), so every event already stored still reads: an
event contract's bound is never below what any earlier version of a command let through.
Commands may be stricter than the events they produce.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

# -- the broker -----------------------------------------------------------------------------

# Apache Kafka's default largest message (``message.max.bytes`` 1048588, the producer's
# ``max.request.size`` 1048576): an event's body and headers must fit in it, or the relay
# could never publish it.
MAX_EVENT_BYTES = 1_048_576

# -- strings --------------------------------------------------------------------------------

MAX_ID_LENGTH = 128
"""Any id: chosen by a client (class, institution, batch ids...) or generated (uuids)."""

EVENT_ID_LENGTH = 36
"""An event's id as another event cites it (``justified_by``): a UUID's text."""

MAX_SHORT_TEXT = 200
"""Names of institutions and bodies, partners, affiliations, references, codes, kinds."""

MAX_TEXT = 2000
"""Free text: reasons and descriptions."""

MAX_URL_LENGTH = 2000
"""A webhook's address."""

# -- lists ----------------------------------------------------------------------------------

MAX_CLASS_SIZE = 200
"""Trainees of one class (its capacity) and so the candidates of one assessment."""

MAX_SESSIONS = 500
"""Sessions of one class (a morning and an afternoon a day for most of a year)."""

MAX_CLASS_DAYS = 250
"""Distinct days on which one class has sessions, and so the days a trainee attended."""

MAX_ATTENDANCE_RECORDS = 2 * MAX_SESSIONS
"""Attendance records (voided ones included) of one trainee in one class: each session once,
and as many corrections again. It bounds the evidence of a living subsidy line."""

MAX_RESULTS_PER_CANDIDATE = 20
"""Results (voided ones included) of one candidate in one assessment: a result and its
corrections. Each passed one is a certificate that a ledger line cites, with what revoked it."""

MAX_EVIDENCE = 2500
"""Events that justify one ledger line: the trainee's attendance records and their voids,
the class, the policy, the certificates and what revoked them."""

MAX_BATCH_LINES = 400
"""Ledger lines in one disbursement batch (and so items in one bank file)."""

MAX_PEOPLE = 100
"""Trainers of a class, assessors of a body or an assessment."""

MAX_TIES = 100
"""Affiliations of a body or an assessor, partners of an institution."""

MAX_OCCUPATIONS = 200
"""Occupations an institution teaches or a worker wishes to learn (the catalogue's size)."""

MAX_SITES = 100
"""Work sites an institution serves."""

MAX_CHOICES = 10
"""Small lists of choices: the class modes a worker can attend."""

MAX_RATES = 1000
"""Subsidy rates (occupation x level) or uplifts in one version of the funding policy."""

MAX_WEBHOOK_EVENT_TYPES = 100
"""Event types one webhook subscribes to (there are fewer than that)."""

# -- the types that carry them --------------------------------------------------------------

Id = Annotated[str, Field(max_length=MAX_ID_LENGTH)]
EventRef = Annotated[str, Field(max_length=EVENT_ID_LENGTH)]
ShortText = Annotated[str, Field(max_length=MAX_SHORT_TEXT)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]

# What a client names (ids it chooses, names it types): never empty.
NewId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH)]
Name = Annotated[str, Field(min_length=1, max_length=MAX_SHORT_TEXT)]
