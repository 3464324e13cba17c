"""The Ralph LRS (``ralph-malph``, tests/lrs-requirements.txt) on a loopback port, with the
filesystem backend in a temporary folder (tests/ralph_server.py) and one HTTP Basic user, for
the xAPI tests.

Ralph runs in its own venv (``.venv-ralph``; its pins conflict with the project's), built by
``make test`` or, when missing, here with the same pins.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from shared.infra.ports import free_port, wait_for_port

ROOT = Path(__file__).parents[1]
VENV = ROOT / ".venv-ralph"
REQUIREMENTS = ROOT / "tests" / "lrs-requirements.txt"
STAMP = VENV / ".installed"
SERVER = ROOT / "tests" / "ralph_server.py"


@dataclass(frozen=True)
class Lrs:
    url: str  # the xAPI endpoint: <url>/statements
    username: str
    password: str


def ralph_python() -> Path:
    python = VENV / "bin" / "python"
    if not STAMP.exists() or STAMP.stat().st_mtime < REQUIREMENTS.stat().st_mtime:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r",
                        str(REQUIREMENTS)], check=True)
        STAMP.touch()
    return python


@contextlib.contextmanager
def running_ralph(folder: Path, *, port: int | None = None, username: str = "songji",
                  password: str = "lrs-test-password") -> Iterator[Lrs]:
    python = ralph_python()
    folder.mkdir(parents=True, exist_ok=True)
    auth_file = folder / "auth.json"
    hashed = subprocess.run(
        [str(python), "-c", "import bcrypt, sys; print(bcrypt.hashpw(sys.argv[1].encode(), "
                            "bcrypt.gensalt()).decode())", password],
        check=True, capture_output=True, text=True).stdout.strip()
    auth_file.write_text(json.dumps([{"agent": {"mbox": "mailto:songji@example.org"},
                                      "scopes": ["all"], "username": username,
                                      "hash": hashed}]))
    port = port or free_port()
    env = {**os.environ, "RALPH_RUNSERVER_BACKEND": "fs", "RALPH_AUTH_FILE": str(auth_file),
           "RALPH_APP_DIR": str(folder),
           "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(folder)}
    log = (folder / "ralph.log").open("wb")
    process = subprocess.Popen([str(python), str(SERVER), str(port)], cwd=folder, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, timeout=120)
        yield Lrs(f"http://127.0.0.1:{port}/xAPI", username, password)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
