"""The services' signing keys on a machine that runs them all (``songji up``, the tests, chaos).

A key pair per service is made once and kept in the state folder: the private keys in
``signing-keys.env`` (mode 600, like the other secrets), the public keys in
``public-keys.json`` (the ``SONGJI_PUBLIC_KEYS`` setting, for the auditor's tools too). Each
service process is given only its own private key and everyone's public keys.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.eventsourcing.signing import PublicKeys, SigningKey, new_key_pair
from shared.eventsourcing.topics import SERVICES

PRIVATE_FILE = "signing-keys.env"
PUBLIC_FILE = "public-keys.json"
PUBLIC_KEYS_ENV = "SONGJI_PUBLIC_KEYS"
SIGNING_KEY_ENV = "SONGJI_SIGNING_KEY"


def private_keys(folder: Path) -> dict[str, str]:
    """Every service's private key (service -> key text), made the first time and kept."""
    file = folder / PRIVATE_FILE
    saved: dict[str, str] = {}
    if file.exists():
        pairs = (line.split("=", 1) for line in file.read_text().splitlines() if "=" in line)
        saved = {k: v for k, v in pairs}
    missing = [s for s in SERVICES if not saved.get(s)]
    if missing:  # first run, or a service added since
        saved = {**saved, **{s: new_key_pair()[0] for s in missing}}
        folder.mkdir(parents=True, exist_ok=True)
        # Made with mode 600 before anything is written into it.
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write("".join(f"{k}={v}\n" for k, v in saved.items()))
        file.chmod(0o600)
    return saved


def public_keys_setting(folder: Path) -> str:
    """``SONGJI_PUBLIC_KEYS`` for the services kept in ``folder`` (written there too)."""
    setting = PublicKeys.setting({s: SigningKey(k).public_text()
                                  for s, k in private_keys(folder).items()})
    path = folder / PUBLIC_FILE
    if not path.exists() or path.read_text() != setting:
        path.write_text(setting)
    return setting


def service_signing_env(folder: Path, service: str) -> dict[str, str]:
    """What one service process is given: its own private key, everyone's public keys."""
    return {SIGNING_KEY_ENV: private_keys(folder)[service],
            PUBLIC_KEYS_ENV: public_keys_setting(folder)}


def known_public_keys(state_dir: Path) -> PublicKeys:
    """The public keys for a reader outside the services (the auditor): ``SONGJI_PUBLIC_KEYS``
    when set, else those ``songji up`` keeps; LookupError naming what to set otherwise."""
    value = os.environ.get(PUBLIC_KEYS_ENV)
    if not value and (state_dir / PUBLIC_FILE).exists():
        value = (state_dir / PUBLIC_FILE).read_text()
    if not value:
        raise LookupError(f"no public keys known: set {PUBLIC_KEYS_ENV} "
                          "(or run `songji up`, which records them)")
    return PublicKeys.from_setting(value)
