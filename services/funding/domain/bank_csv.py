"""The bank's payment instruction file (CSV), written from a payment instruction.

Bank details are personal data: they are *never* in events. The caller looks them up (from
enrolment's encrypted store for workers, from the institution register for institutions) and
passes them in just to write the file; funding records only the file's SHA-256.

One row per payee (the lines of a payee are summed; the row's reference lists them), sorted
by payee kind and id, amounts as exact decimal yuan plus integer fen. Text cells that a
spreadsheet would read as a formula are prefixed with a quote (CSV injection).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.funding.domain.money import format_yuan
from shared.contracts.funding import PaymentItem

HEADER = ("instruction_id", "row", "payee_kind", "payee_id", "account_name", "account_number",
          "bank_code", "amount_yuan", "amount_fen", "line_count", "reference")


@dataclass(frozen=True)
class BankAccount:
    account_name: str
    account_number: str
    bank_code: str


class MissingAccount(LookupError):
    pass


def _safe(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def payment_instruction_csv(instruction_id: str, items: Iterable[PaymentItem],
                            accounts: Mapping[str, BankAccount]) -> str:
    per_payee: dict[tuple[str, str], list[PaymentItem]] = defaultdict(list)
    for item in items:
        per_payee[(item.payee_kind, item.payee_id)].append(item)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row, ((kind, payee), payee_items) in enumerate(sorted(per_payee.items()), start=1):
        account = accounts.get(payee)
        if account is None:
            raise MissingAccount(f"no bank account for payee {payee}")
        total = sum(i.amount_fen for i in payee_items)
        reference = ";".join(sorted(i.line_id for i in payee_items))
        writer.writerow([instruction_id, row, kind, payee, _safe(account.account_name),
                         _safe(account.account_number), _safe(account.bank_code),
                         format_yuan(total), total, len(payee_items), reference])
    return out.getvalue()


def file_sha256(content: str) -> str:
    return hashlib.sha256(content.encode("utf-8")).hexdigest()
