"""The auditor's page in Chromium, against the six services running as processes: a store's
hash chain is verified from the page (its row refreshes itself until the verdict), an event
edited in the database is then named by its position, and the funding replay is run from the
page, its verdict (the edited event is not what the topic holds) shown and kept. Screenshotted
and checked with axe-core, like the journey."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
import pytest

from console.launch import start_console, stop_console, wait_console
from shared.infra.ports import free_port_block
from songji.launcher import Launcher
from tests.browser.browser import Browser, chromium_or_fail
from tests.browser.test_console_journey import ARTIFACTS, sign_in, sign_out
from tests.integration.test_skeleton_services import registration
from tests.orgs import auth

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def _until(done: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, what
        time.sleep(0.3)


def test_the_auditor_verifies_a_chain_and_runs_the_replay_from_the_console(
        postgres_url: str, kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    chromium_or_fail()
    artifacts = (ARTIFACTS / "audit").resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    print(f"\nscreenshots of the auditor's page: {artifacts}")
    launcher = Launcher(postgres_url=postgres_url, kafka_bootstrap=kafka_bootstrap,
                        state_dir=tmp_path, topic_prefix=topic_prefix,
                        database_prefix=topic_prefix,
                        extra_env={"SONGJI_HEAD_SEAL_INTERVAL": "0.5"})
    console = browser = None
    try:
        processes = asyncio.run(launcher.start())
        urls = {n: p.url for n, p in processes.items()}
        with httpx.Client(timeout=30) as client:
            for serial in (1, 2, 3):
                made = client.post(f"{urls['enrolment']}/workers", json=registration(serial),
                                   headers=auth("station-fukang"))
                assert made.status_code == 201, made.text
        port = free_port_block(1)
        console = start_console(tmp_path, urls, port)
        site = f"http://127.0.0.1:{port}"
        wait_console(console, site)
        browser = b = Browser(tmp_path / "profile", artifacts, tmp_path / "downloads")

        sign_in(b, site, "auditor")
        assert "尚未核验" in b.by_id("chain-enrolment").text, b.text()
        assert "songji audit verify" in b.by_id("verify").text
        time.sleep(1.5)  # the service seals its head every 0.5 s: the three events sealed
        b.submit("verify-enrolment")
        _until(lambda: "通过" in b.text_of("verdict-enrolment"), 60,
               "the enrolment chain was not verified on the page")
        row = b.text_of("chain-enrolment")
        assert "3 / 3" in row and "位置 3" in row, row  # checked 3 of 3; sealed at 3
        assert "最近签封链头" in b.text_of("chains")
        b.check("auditor-chain-verified")

        asyncio.run(_edit(processes["enrolment"].dsn))
        b.submit("verify-enrolment")
        _until(lambda: "断链" in b.text_of("verdict-enrolment"), 60,
               "the edited event was not found from the page")
        verdict = b.text_of("verdict-enrolment")
        assert "第一个断点: 2" in verdict and "does not match its hash" in verdict, verdict
        b.check("auditor-chain-broken")

        assert "尚未运行" in b.by_id("replay-status").text
        b.submit("run-replay")
        _until(lambda: "运行中" not in b.text_of("replay-status")
               and "exit" in b.text_of("replay-status"), 120,
               "the replay did not finish on the page")
        # The edited event is no longer the one enrolment published: the replay, which checks
        # the topics against the stores, reports it too.
        replay = b.text_of("replay-status")
        assert "有差异" in replay and "exit 1" in replay, replay
        assert "1 not as stored" in replay and "audit-replay-differences.json" in replay, replay
        kept = json.loads((tmp_path / "console" / "audit-replay.json").read_text())
        assert kept["outcome"] == "differences" and kept["requested_by"] == "auditor"
        differences = json.loads(Path(kept["differences_file"]).read_text())
        assert [(d["line_id"], d["field"]) for d in differences] == [
            ("enrolment@2", "differs_from_store")], differences
        b.check("auditor-replay")
        sign_out(b)
        assert browser.violations == {}, json.dumps(browser.violations, ensure_ascii=False,
                                                    indent=1)
    finally:
        if browser is not None:
            browser.quit()
        if console is not None:
            stop_console(console)
        launcher.stop()


async def _edit(dsn: str) -> None:
    """What someone with write access to the database might do: move an event to another
    stream, leaving its hash as it was."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("UPDATE events SET stream_id = 'worker-x' WHERE position = 2")
    finally:
        await conn.close()
