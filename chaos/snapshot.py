"""What a finished run left behind, with the run's own identities normalised away.

Enrolment gives every worker a random id (uuid4), and every event has a random id, so two
runs of the same load differ in those and in wall-clock times, and in nothing else. A snapshot
replaces each worker id with the scenario's number for that worker (``W7``: the driver knows
which registration gave which id), any other uuid with ``<id>``, any timestamp with
``<time>``, certificate numbers (numbered in the order concurrent results arrive) with
``<certificate number>`` and the bank file's hash with ``<sha256>``, and sorts lists (they
come in worker id order or arrival order), and drops the number of attempts a notice took
(retries against a killed service are the point of the run). Ledger line ids are checked to
be what the ledger's rule makes of the line's key, then named by that key with the worker's
number, in the ledger, the events and the answers alike. What remains must be equal, line
for line.

The answers the HR bureau finally got from funding's commands (the batch, the bank file, the
payment; after a lost answer, the replay of it) are normalised the same way: the bank file
row by row, without its row numbers (rows are sorted by payee id, a random id), with whether
its ``X-File-SHA256`` is the SHA-256 of the file received and the one funding recorded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

from services.funding.domain.ledger import line_id
from shared.eventsourcing.topics import SERVICES
from shared.runtime.paging import MAX_PAGE_SIZE, every_page

UUID = re.compile(r"(?<![0-9a-f])[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?"
                  r"[0-9a-f]{12}(?![0-9a-f])")
SHA256 = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")
# Numbered in the order results reach the assessment body, which concurrent requests decide.
CERTIFICATE_NUMBER = re.compile(r"^[A-Z]+-\d{4}-\d{6}-\d{2}$")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?([+-]\d\d:\d\d|Z)?")


class Normaliser:
    def __init__(self, worker_ids: dict[int, str]) -> None:
        self.workers = {w: f"W{i}" for i, w in worker_ids.items()}
        self.lines: dict[str, str] = {}  # ledger line id -> its key, once the ledger is read

    def text(self, value: str) -> str:
        if CERTIFICATE_NUMBER.match(value):
            return "<certificate number>"
        value = SHA256.sub("<sha256>", value)
        value = UUID.sub(lambda m: self.workers.get(m.group(0))
                         or self.lines.get(m.group(0), "<id>"), value)
        return TIMESTAMP.sub("<time>", value)

    def data(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.data(v) for k, v in sorted(value.items())}
        if isinstance(value, list):  # in worker id or arrival order: both differ by run
            return sorted((self.data(v) for v in value), key=lambda v: json.dumps(
                v, ensure_ascii=False, sort_keys=True))
        return value

    def event(self, event_type: str, data: dict) -> str:
        if event_type.startswith("songji.notifications.Notification"):
            data = {k: v for k, v in data.items() if k != "attempts"}
        return f"{event_type} {json.dumps(self.data(data), ensure_ascii=False, sort_keys=True)}"


@dataclass
class Snapshot:
    ledger: dict[str, dict]  # normalised line key -> normalised line
    ledger_rows: int
    line_id_errors: list[str]
    events: Counter  # normalised event -> count, every store
    events_total: int
    events_by_service: dict[str, int]
    event_ids: dict[str, list[tuple[str, str]]]  # service -> [(event id, type)]
    inbox: dict[str, set[str]]  # consumer -> event ids applied
    notifications: list[dict]  # outbox rows, normalised
    delivered_attempts: Counter  # notification id -> delivered attempts
    delivered_events: Counter  # notification stream -> NotificationDelivered events
    channel_messages: Counter  # notification id -> messages the local channel wrote
    instruction_items: Counter  # line id -> instruction items paying it (not rejected)
    confirmations: Counter  # instruction id -> PaymentConfirmed events
    answers: dict[str, Any] = field(default_factory=dict)  # funding command path -> answer
    extra: dict[str, Any] = field(default_factory=dict)


def dump(snap: Snapshot, path: Any) -> None:
    """The normalised ledger and events, to compare two runs by hand when they differ."""
    path.write_text(json.dumps({"ledger": snap.ledger, "events": sorted(snap.events.elements()),
                                "answers": snap.answers,
                                "notifications": sorted(
                                    f"{n['kind']} {n['recipient']} {n['ref']} {n['state']}"
                                    for n in snap.notifications)},
                               indent=1, ensure_ascii=False, sort_keys=True))


async def _ledger(url: str, token: str) -> list[dict]:
    """Every line of the ledger, page after page."""
    async with httpx.AsyncClient(timeout=60, headers={"Authorization": f"Bearer {token}"}
                                 ) as client:
        async def get(path: str) -> httpx.Response:
            response = await client.get(url.rstrip("/") + path)
            response.raise_for_status()
            return response

        return await every_page(await get(f"/ledger?limit={MAX_PAGE_SIZE}"), get)


def normalise_ledger(lines: list[dict], norm: Normaliser) -> tuple[dict[str, dict], list[str]]:
    keys, errors = {}, []
    for x in lines:
        keys[x["line_id"]] = f"{x['rule']}|{x['class_id']}|{norm.text(x['worker_id'])}|{x['seq']}"
        if x["line_id"] != line_id((x["rule"], x["class_id"], x["worker_id"]), x["seq"]):
            errors.append(x["line_id"])
    norm.lines = {k: f"line {v}" for k, v in keys.items()}
    out: dict[str, dict] = {}
    for x in lines:
        key = keys[x["line_id"]]
        line = {k: v for k, v in x.items()
                if k not in ("line_id", "due_at", "justified_by", "corrects_line_id")}
        line = norm.data(line)
        line["corrects"] = keys.get(x["corrects_line_id"], x["corrects_line_id"])
        line["justified_by"] = x["justified_by"]  # event ids: resolved by the caller
        if key in out:
            key += f" (again, row {len(out)})"
        out[key] = line
    return out, errors


def normalise_answers(answers: dict[str, httpx.Response], norm: Normaliser,
                      recorded_sha256: set[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path, response in sorted(answers.items()):
        if path == "/test-clock":
            continue  # the clock's reading, not a command of the programme
        if response.headers.get("content-type", "").startswith("text/csv"):
            rows = [norm.data({k: v for k, v in row.items() if k != "row"})
                    for row in csv.DictReader(io.StringIO(response.text))]
            for row in rows:  # the payee's line ids, sorted by id: sorted again by key
                row["reference"] = ";".join(sorted(row["reference"].split(";")))
            sha256 = response.headers.get("X-File-SHA256", "")
            out[path] = {
                "status": response.status_code,
                "rows": sorted(rows, key=lambda r: json.dumps(r, sort_keys=True,
                                                              ensure_ascii=False)),
                "sha256 is the file's": sha256 == hashlib.sha256(response.content).hexdigest(),
                "sha256 is the one recorded": sha256 in recorded_sha256}
        else:
            body = response.json() if response.content else None
            out[path] = {"status": response.status_code, "body": norm.data(body)}
    return out


async def take(urls: dict[str, str], dsns: dict[str, str], hr_token: str,
               worker_ids: dict[int, str], messages_file: Any,
               answers: dict[str, httpx.Response] | None = None) -> Snapshot:
    norm = Normaliser(worker_ids)
    raw_lines = await _ledger(urls["funding"], hr_token)
    ledger, id_errors = normalise_ledger(raw_lines, norm)

    events: Counter = Counter()
    by_service: dict[str, int] = {}
    event_ids: dict[str, list[tuple[str, str]]] = {}
    described: dict[str, str] = {}
    inbox: dict[str, set[str]] = {}
    delivered_events: Counter = Counter()
    items: Counter = Counter()  # (instruction id, line id) -> items
    rejected: set[tuple[str, str]] = set()
    confirmations: Counter = Counter()
    file_sha256: set[str] = set()
    for service in SERVICES:
        conn = await asyncpg.connect(dsns[service])
        try:
            rows = await conn.fetch("SELECT event_id::text, stream_id, event_type, data::text "
                                    "FROM events ORDER BY position")
            for r in await conn.fetch("SELECT consumer, event_id::text FROM inbox"):
                inbox.setdefault(r["consumer"], set()).add(r["event_id"])
            if service == "notifications":
                outbox = await conn.fetch("SELECT * FROM notifications")
                attempts = await conn.fetch(
                    "SELECT notification_id::text, count(*) AS n FROM delivery_attempts "
                    "WHERE outcome = 'delivered' GROUP BY notification_id")
        finally:
            await conn.close()
        by_service[service] = len(rows)
        event_ids[service] = [(r["event_id"], r["event_type"]) for r in rows]
        for r in rows:
            data = json.loads(r["data"])
            described[r["event_id"]] = norm.event(r["event_type"], data)
            events[described[r["event_id"]]] += 1
            if r["event_type"].endswith(".NotificationDelivered.v1"):
                delivered_events[r["stream_id"]] += 1
            if r["event_type"].endswith(".PaymentInstructionIssued.v1"):
                file_sha256.add(data["file_sha256"])
                for item in data.get("items", []):
                    items[(data["instruction_id"], item["line_id"])] += 1
            if r["event_type"].endswith(".PaymentConfirmed.v1"):
                confirmations[data["instruction_id"]] += 1
                rejected |= {(data["instruction_id"], line)
                             for line in data.get("failed_line_ids", [])}
    # A line the bank rejected is due again and may be paid by a later instruction: only
    # the items the bank did not reject count as paying it.
    paying: Counter = Counter()
    for (instruction, line), n in items.items():
        if (instruction, line) not in rejected:
            paying[line] += n

    for line in ledger.values():
        line["justified_by"] = sorted(described.get(e, f"unknown event {e}")
                                      for e in line["justified_by"])
    notifications = [{"source_event_id": str(r["source_event_id"]),
                      "notification_id": str(r["notification_id"]),
                      "recipient": norm.text(r["recipient_id"]), "kind": r["kind"],
                      "ref": norm.text(r["ref"]), "state": r["state"],
                      "raw_recipient": r["recipient_id"], "raw_ref": r["ref"]} for r in outbox]
    channel: Counter = Counter()
    if messages_file is not None and messages_file.exists():
        for text in messages_file.read_text().splitlines():
            if text.strip():
                channel[json.loads(text)["notification_id"]] += 1
    return Snapshot(
        ledger=ledger, ledger_rows=len(raw_lines), line_id_errors=id_errors, events=events,
        events_total=sum(by_service.values()), events_by_service=by_service,
        event_ids=event_ids, inbox=inbox, notifications=notifications,
        delivered_attempts=Counter({r["notification_id"]: r["n"] for r in attempts}),
        delivered_events=delivered_events, channel_messages=channel,
        instruction_items=paying, confirmations=confirmations,
        answers=normalise_answers(answers or {}, norm, file_sha256))
