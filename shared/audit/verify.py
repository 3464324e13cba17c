"""Verify the hash chain of a service's event store against its sealed heads: one piece of code
for the auditor's command (``songji audit verify``, every store) and the services' own
auditor routes (``shared.audit.jobs``, one store in the background)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shared.eventsourcing.db import create_pool
from shared.eventsourcing.heads import SealedHead, Seals
from shared.eventsourcing.store import EventStore, Progress, Verification


@dataclass(frozen=True)
class StoreVerdict:
    """One store's chain, and whether it was checked against its sealed heads."""

    chain: Verification
    seals_checked: bool = False
    latest_seal: SealedHead | None = None
    refused_seals: int = 0  # records on the heads topic that did not verify

    @property
    def checked(self) -> int:
        return self.chain.checked

    @property
    def first_bad_position(self) -> int | None:
        return self.chain.first_bad_position

    @property
    def unsealed(self) -> bool:
        """Seals were asked for, none was found, and there is something to seal."""
        return self.seals_checked and self.latest_seal is None and self.chain.checked > 0

    @property
    def reason(self) -> str | None:
        if self.chain.reason is not None:
            return self.chain.reason
        if self.unsealed:
            return "no sealed head found: the chain cannot be told from one recomputed"
        return None

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.unsealed


async def verify_store(store: EventStore, seals: Seals | None = None, *,
                       progress: Progress | None = None) -> StoreVerdict:
    """One store's chain; with ``seals`` (its service's, ``read_seals``) also against them,
    and not ok when there is none. ``progress(checked, total)`` after each batch."""
    chain = await store.verify(sealed=seals.hashes() if seals is not None else None,
                               progress=progress)
    return StoreVerdict(chain, seals_checked=seals is not None,
                        latest_seal=seals.latest if seals is not None else None,
                        refused_seals=seals.refused if seals is not None else 0)


async def verify_stores(dsns: Mapping[str, str], seals: Mapping[str, Seals] | None = None
                        ) -> dict[str, StoreVerdict]:
    """Each service store's chain, by service; a broken one names its first bad position.
    With ``seals`` (``shared.eventsourcing.heads.read_seals``), each chain is also checked
    against its service's sealed heads, and one with none is not ok."""
    results: dict[str, StoreVerdict] = {}
    for service, dsn in dsns.items():
        own = seals.get(service, Seals()) if seals is not None else None
        pool = await create_pool(dsn, max_size=1)
        try:
            results[service] = await verify_store(EventStore(pool), own)
        finally:
            await pool.close()
    return results
