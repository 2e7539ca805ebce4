"""The data directory and everything under it are the user's alone: customers' messages, logs
and caches live there. A plain module, so every layer that makes a directory uses the same rule."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

PRIVATE_DIRECTORY = 0o700
PRIVATE_FILE = 0o600


def make_private_dirs(path: Path) -> None:
    """Create `path` and every missing directory above it, each one private (0700) whatever the
    umask; directories that exist are left as they are."""
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current) and current.parent != current:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIRECTORY)
        except FileExistsError:  # made by another process meanwhile
            continue
        os.chmod(directory, PRIVATE_DIRECTORY)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))


def make_home(home: Path) -> None:
    """Create the data directory (0700, and any missing directory above it) if it is missing. One
    that exists, perhaps made by the user, is left as it is (see `exposed_home`)."""
    make_private_dirs(home)


def create_private_file(path: Path) -> None:
    """Create `path` empty and readable by its owner only (0600), unless it exists."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
    except FileExistsError:
        pass


def write_private(path: Path, data: bytes) -> None:
    """Replace `path` with `data` atomically, readable by its owner only: written to a private
    temporary file beside it, then moved over it, so a reader never sees half of it."""
    make_private_dirs(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with os.fdopen(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE), "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def owned_privately(path: Path) -> bool:
    """Whether `path` and the directory holding it belong to this user and no one else can write
    them: what a file whose contents are run (compiled patterns) must be to be trusted."""
    try:
        found = [os.stat(path), os.stat(path.parent)]
    except OSError:
        return False
    return all(st.st_uid == os.getuid() and not st.st_mode & 0o022 for st in found)
