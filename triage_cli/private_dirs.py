"""The data directory and everything under it are the user's alone: customers' messages, logs
and caches live there. A plain module, so every layer that makes a directory uses the same rule."""

from __future__ import annotations

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
