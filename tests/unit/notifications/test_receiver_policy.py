"""Which webhook receivers may be reached, and how long a failed delivery waits."""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_address

import pytest

from services.notifications.domain.receivers import ReceiverPolicy
from services.notifications.domain.webhooks import retry_delay

STRICT, LOCAL = ReceiverPolicy(), ReceiverPolicy(allow_local=True)


@pytest.mark.parametrize(("address", "reason"), [
    ("169.254.169.254", "link_local"),        # cloud metadata
    ("fe80::1", "link_local"),
    ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
    ("0.0.0.0", "unspecified"), ("::", "unspecified"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("ff02::1", "multicast"),
    ("100.64.0.1", "not_global"),              # shared address space (carrier NAT)
    ("240.0.0.1", "private"),                  # reserved for future use
    ("::ffff:169.254.169.254", "link_local"),  # IPv4-mapped forms are judged as IPv4
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.1.2.3", "private"),
    ("2002:a9fe:a9fe::1", "link_local"),       # 6to4 around 169.254.169.254
])
def test_addresses_inside_a_network_are_refused(address: str, reason: str) -> None:
    assert STRICT.address_refusal(ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111",
                                     "::ffff:93.184.215.14"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert STRICT.address_refusal(ip_address(address)) is None
    assert LOCAL.address_refusal(ip_address(address)) is None


def test_local_mode_lets_in_loopback_and_nothing_else_inside() -> None:
    for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert LOCAL.address_refusal(ip_address(address)) is None
    for address, reason in [("169.254.169.254", "link_local"), ("10.0.0.1", "private"),
                            ("0.0.0.0", "unspecified"), ("fe80::1", "link_local")]:
        assert LOCAL.address_refusal(ip_address(address)) == reason


def test_https_is_required_unless_in_local_mode() -> None:
    assert STRICT.scheme_refusal("https") is None
    assert STRICT.scheme_refusal("http") == "https_required"
    assert LOCAL.scheme_refusal("http") is None
    assert LOCAL.scheme_refusal("ftp") == "https_required"


def test_the_wait_doubles_from_the_first_and_stops_at_the_cap() -> None:
    waits = [retry_delay(n, first_seconds=1.0, cap_seconds=60.0) for n in range(1, 9)]
    assert waits == [timedelta(seconds=s) for s in (1, 2, 4, 8, 16, 32, 60, 60)]
    assert retry_delay(10_000, first_seconds=1.0, cap_seconds=60.0) == timedelta(seconds=60)
