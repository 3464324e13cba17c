"""Funding's pure domain: no I/O, no clock, no randomness (today and times are passed in).

- ``policy`` / ``budget``: commands, decide and evolve for funding's own aggregates.
- ``facts`` / ``entitlements`` / ``ledger``: the ledger as a pure function of the events.
- ``disbursement``: batches, the public notice, objections, payment instruction, payment.
- ``notice_calendar``, ``bank_csv``, ``grants``, ``money``: small pure helpers.
"""

from services.funding.domain.facts import Consumed, canonical
from services.funding.domain.ledger import FundPosition, Ledger, LedgerLine, build_ledger

__all__ = ["Consumed", "FundPosition", "Ledger", "LedgerLine", "build_ledger", "canonical"]
