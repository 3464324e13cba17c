"""``songji status``: replicas grouped by the service each process names, the lags and dead
letters aggregated as the metrics' meaning requires (shared/runtime/metrics.py)."""

from __future__ import annotations

import asyncio

from songji.status import parse, render, scrape_all, summarise


def funding_replica(relay_lag: int, published: int, lag: dict[str, int], invalid: int) -> str:
    lines = ['songji_service{service="funding"} 1',
             f'songji_relay_lag_events{{topic="songji.funding.events"}} {relay_lag}',
             f'songji_relay_published_events_total{{topic="songji.funding.events"}} {published}',
             'songji_consumer_dead_letters_total{consumer="funding.ledger-inputs",'
             f'reason="invalid"}} {invalid}',
             'songji_consumer_dead_letters_total{consumer="funding.ledger-inputs",'
             'reason="forged"} 0']
    lines += [f'songji_consumer_lag_records{{consumer="funding.ledger-inputs",'
              f'topic="songji.training.events",partition="{p}"}} {v}' for p, v in lag.items()]
    return "\n".join(lines) + "\n"


def test_replicas_are_grouped_and_lags_and_dead_letters_aggregated() -> None:
    scrapes = [
        parse("http://a:8000", funding_replica(7, 10, {"0": 3, "1": 0}, 1)),
        # the other replica: same store (relay lag read from it), the other partitions' view
        parse("http://b:8000", funding_replica(7, 5, {"1": 4, "2": 2}, 2)),
        parse("http://c:8000", 'songji_service{service="enrolment"} 1\n'
                               'songji_relay_lag_events{topic="songji.enrolment.events"} 0\n'),
    ]
    statuses, silent = summarise(scrapes)
    assert silent == []
    enrolment, funding = statuses  # in the system's order
    assert (enrolment.service, enrolment.replicas, enrolment.relay_lag) == ("enrolment", 1, 0)
    assert enrolment.consumer_lag == {} and enrolment.dead_letters == {}
    assert (funding.service, funding.replicas, funding.relay_lag) == ("funding", 2, 7)
    assert funding.published == 15
    assert funding.consumer_lag == {"funding.ledger-inputs": 3 + 4 + 2}
    assert funding.dead_letters == {"invalid": 3}
    screen = render(statuses, silent)
    header, first, second = screen.splitlines()
    assert header.split() == ["service", "replicas", "relay", "lag", "published", "consumer",
                              "lag", "dead", "letters"]
    assert first.split() == ["enrolment", "1", "0", "0", "-", "0"]
    assert second.split() == ["funding", "2", "7", "15", "ledger-inputs", "9", "invalid", "3"]


def test_an_address_that_does_not_answer_is_named() -> None:
    async def fetch(address: str) -> str:
        if address.endswith(":1"):
            raise ConnectionRefusedError("refused")
        return 'songji_service{service="training"} 1\n'

    scrapes = asyncio.run(scrape_all(["http://x:1", "http://y:2"], fetch))
    statuses, silent = summarise(scrapes)
    assert [s.service for s in statuses] == ["training"]
    assert [s.address for s in silent] == ["http://x:1"]
    assert "not answering: http://x:1 (ConnectionRefusedError: refused)" in render(statuses,
                                                                                    silent)
