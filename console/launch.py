"""Start the console as its own process next to the services (``songji up``, the browser
tests), with what it needs to know of them: their URLs, the organisations file, the local
organisations' tokens and sign-in accounts."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

from console.accounts import write_users_file
from console.sessions import new_key
from shared.infra.dev_organisations import dev_tokens, organisations_env

USERS_FILE = "console-users.json"
PASSWORDS_FILE = "console-passwords.env"
SESSION_KEY_FILE = "console-session.key"
STATE_FOLDER = "console"


def session_key(state_dir: Path) -> str:
    """The key that encrypts the organisations' tokens in the console's sessions file: from
    SONGJI_CONSOLE_SESSION_KEY when set there (a secret store's, say), else made once and
    kept owner-only in the state folder, beside (not inside) the sessions file."""
    if os.environ.get("SONGJI_CONSOLE_SESSION_KEY"):
        return os.environ["SONGJI_CONSOLE_SESSION_KEY"]
    file = state_dir / SESSION_KEY_FILE
    if not file.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        file.touch(mode=0o600)
        file.write_text(new_key() + "\n")
    return file.read_text().strip()


def dev_accounts(state_dir: Path) -> Path:
    """One sign-in account per local organisation (username = its org id), made once: the
    hashes in ``console-users.json``, the passwords in ``console-passwords.env`` (owner only)."""
    users, passwords = state_dir / USERS_FILE, state_dir / PASSWORDS_FILE
    if not users.exists() or not passwords.exists():
        chosen = {org: secrets.token_urlsafe(12) for org in dev_tokens(state_dir)}
        write_users_file(users, {org: (org, pw) for org, pw in chosen.items()})
        passwords.write_text("".join(f"{org}={pw}\n" for org, pw in chosen.items()))
        passwords.chmod(0o600)
    return users


def start_console(state_dir: Path, service_urls: Mapping[str, str], port: int,
                  extra_env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, **organisations_env(state_dir),
           "SONGJI_CONSOLE_STATE_DIR": str((state_dir / STATE_FOLDER).resolve()),
           "SONGJI_CONSOLE_SESSION_KEY": session_key(state_dir), **dict(extra_env or {}),
           **{f"SONGJI_{name.upper()}_URL": url for name, url in service_urls.items()},
           "SONGJI_CONSOLE_PORT": str(port)}
    # The auditor's replay, which the console runs, finds the stores, the broker and the
    # public keys there (console/audit_replay.py); the console keeps its verdict under it.
    env.setdefault("SONGJI_STATE_DIR", str(state_dir.resolve()))
    if (state_dir / "tokens.env").exists():
        env["SONGJI_CONSOLE_TOKENS_FILE"] = str((state_dir / "tokens.env").resolve())
        env["SONGJI_CONSOLE_USERS_FILE"] = str(dev_accounts(state_dir).resolve())
    log_dir = state_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    with open(log_dir / "console.log", "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "console"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


def wait_console(process: subprocess.Popen[bytes], url: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the console exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"the console was not up after {seconds}s")


def stop_console(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
