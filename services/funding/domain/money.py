"""Integer-fen arithmetic. Money is never a float anywhere in funding.

Rounding rule (stated once, used everywhere): an uplifted amount is
``catalogue_fen × (100 + uplift_percent) / 100`` rounded **half up to the fen**, computed
exactly in integers as ``(catalogue_fen × (100 + uplift_percent) + 50) // 100``.
Amounts are never negative here, so "half up" and "half away from zero" agree.
"""

from __future__ import annotations

from shared.contracts.funding import MAX_UPLIFT_PERCENT

FEN_PER_YUAN = 100


def yuan(amount: int) -> int:
    """Whole yuan to fen: ``yuan(1500) == 150000``."""
    return amount * FEN_PER_YUAN


def uplifted(catalogue_fen: int, uplift_percent: int) -> int:
    """The catalogue amount raised by ``uplift_percent``, rounded half up to the fen."""
    if catalogue_fen < 0:
        raise ValueError("catalogue amounts are never negative")
    if not 0 <= uplift_percent <= MAX_UPLIFT_PERCENT:
        raise ValueError(f"uplift {uplift_percent}% is outside 0..{MAX_UPLIFT_PERCENT}")
    return (catalogue_fen * (100 + uplift_percent) + 50) // 100


def format_yuan(fen: int) -> str:
    """Exact decimal yuan for people and bank files: ``225000 -> '2250.00'``."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"
