"""Rotating the keys that seal data at rest: a new key in front of the old one, `songji keys
rotate`, then the old key removed, and everything sealed still opens; nothing is lost on the
way (a value no key opens is named and left as it was)."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest
from cryptography.fernet import Fernet, InvalidToken

from services.enrolment.app import SPEC as ENROLMENT
from services.enrolment.vault import SEALED as VAULT_COLUMNS
from services.notifications.app import SPEC as NOTIFICATIONS
from shared.infra.ports import free_port
from shared.runtime.keys import KeyRing, replace_unchanged
from songji.cli import KEY_SETTINGS
from tests.integration.test_idempotency import HR, keyed
from tests.integration.test_skeleton_services import register
from tests.orgs import auth
from tests.support import running_service as started
from tests.support import songji

pytestmark = pytest.mark.integration

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
SEALED = "SELECT sealed FROM worker_identities ORDER BY worker_id"


async def column(dsn: str, sql: str) -> list[bytes]:
    conn = await asyncpg.connect(dsn)
    try:
        return [bytes(row[0]) for row in await conn.fetch(sql)]
    finally:
        await conn.close()


async def rotate(service: str, keys: str, dsn: str) -> tuple[int, str]:
    return await songji("keys", "rotate", service, env={KEY_SETTINGS[service]: keys,
                                                        "SONGJI_DATABASE_URL": dsn})


async def test_personal_data_stays_readable_through_a_rotation(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    common = dict(database_url=database, bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    async with started(ENROLMENT, personal_data_key=OLD, **common) as (_, api):
        workers = [await register(api, serial) for serial in (41, 42, 43)]
    # The new key goes in front: the service seals under it and still opens the old values.
    async with started(ENROLMENT, personal_data_key=f"{NEW},{OLD}", **common) as (_, api):
        workers.append(await register(api, 44))
        for worker in workers:
            contact = await api.get(f"/workers/{worker}/contact",
                                    headers=auth("notifications-service"))
            assert contact.status_code == 200, contact.text

    code, output = await rotate("enrolment", f"{NEW},{OLD}", database)
    assert code == 0, output
    assert "worker_identities.sealed: 3 sealed again under the newest key, 1 were already, " \
           "0 no key opens" in output
    assert "4 of 4 rows looked at" in output
    sealed = await column(database, SEALED)
    assert len(sealed) == 4
    for token in sealed:
        KeyRing(NEW).open(token)
        with pytest.raises(InvalidToken):
            KeyRing(OLD).open(token)

    # The old key removed: every worker's contact still opens.
    async with started(ENROLMENT, personal_data_key=NEW, **common) as (_, api):
        for worker in workers:
            contact = await api.get(f"/workers/{worker}/contact",
                                    headers=auth("notifications-service"))
            assert contact.status_code == 200, contact.text
    # Run again: nothing to do, and what is already under the newest key is not rewritten.
    again = await rotate("enrolment", NEW, database)
    assert again[0] == 0 and "0 sealed again under the newest key, 4 were already" in again[1]
    assert await column(database, SEALED) == sealed


async def test_webhook_secrets_and_kept_answers_stay_readable_through_a_rotation(
    database: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    common = dict(database_url=database, bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
                  local_channel_path=tmp_path / "m.jsonl", webhook_allow_local=True)
    request = {"url": "http://127.0.0.1:9/songji",
               "event_types": ["songji.assessment.SkillLevelCertified.v1"]}
    async with started(NOTIFICATIONS, webhook_secret_key=OLD, **common) as (_, api):
        first = await api.post("/webhooks", json=request, headers=keyed(HR, "hook-rotate"))
        assert first.status_code == 201, first.text

    code, output = await rotate("notifications", f"{NEW},{OLD}", database)
    assert code == 0, output
    assert "webhooks.secret_sealed: 1 sealed again" in output
    assert "idempotency_keys.body: 1 sealed again" in output
    [secret_sealed] = await column(database, "SELECT secret_sealed FROM webhooks")
    assert KeyRing(NEW).open(secret_sealed).decode() == first.json()["secret"]

    # With the new key alone, the retried registration still gets its first answer.
    async with started(NOTIFICATIONS, webhook_secret_key=NEW, **common) as (_, api):
        retried = await api.post("/webhooks", json=request, headers=keyed(HR, "hook-rotate"))
        assert retried.status_code == 201 and retried.content == first.content


async def test_a_value_no_key_opens_is_named_and_left_alone(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    common = dict(database_url=database, bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    async with started(ENROLMENT, personal_data_key=OLD, **common) as (_, api):
        worker = await register(api, 45)
    before = await column(database, SEALED)

    code, output = await rotate("enrolment", NEW, database)  # the old key forgotten
    assert code == 1
    assert "0 sealed again under the newest key, 0 were already, 1 no key opens" in output
    assert f"cannot be opened with any of the 1 keys: {worker}" in output
    assert await column(database, SEALED) == before


async def test_a_key_setting_that_is_not_a_key_is_refused_without_showing_it(
    database: str
) -> None:
    code, output = await rotate("enrolment", f"{NEW},not-a-key-at-all", database)
    assert code == 2
    assert "SONGJI_PERSONAL_DATA_KEY: key 2 of 2 is not a Fernet key" in output
    assert "not-a-key-at-all" not in output and NEW not in output


async def test_a_database_that_cannot_be_used_exits_3_without_its_address() -> None:
    dsn = f"postgresql://songji:db-password-0123@127.0.0.1:{free_port()}/enrolment"
    code, output = await rotate("enrolment", NEW, dsn)
    assert code == 3
    assert "the enrolment database could not be used" in output
    assert "db-password-0123" not in output and NEW not in output


async def test_a_value_the_service_rewrote_meanwhile_is_left_as_it_wrote_it(
    database: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    common = dict(database_url=database, bootstrap=kafka_bootstrap, topic_prefix=topic_prefix)
    async with started(ENROLMENT, personal_data_key=OLD, **common) as (_, api):
        worker = await register(api, 46)
    [stored] = await column(database, SEALED)
    conn = await asyncpg.connect(database)
    try:
        ring = KeyRing(f"{NEW},{OLD}")
        # read before the service rewrote it: the rewrite wins
        written = await replace_unchanged(conn, VAULT_COLUMNS[0], [worker],
                                          [KeyRing(OLD).seal(b"{}")], [ring.seal(b"{}")])
        assert written == 0 and await column(database, SEALED) == [stored]
        # read as it still is: written
        resealed = ring.reseal(stored)
        written = await replace_unchanged(conn, VAULT_COLUMNS[0], [worker], [stored],
                                          [resealed])
        assert written == 1 and await column(database, SEALED) == [resealed]
    finally:
        await conn.close()
