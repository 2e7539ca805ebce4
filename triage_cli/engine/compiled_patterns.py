"""Regular expressions compiled once per machine, not once per run.

The intent table (engine/intents.toml) is about 70,000 characters of patterns, and Python takes
about half a second (more on a busy machine) to compile them: more than the rest of an offline
`ask`. Compiling is parsing the pattern and emitting the regex engine's code; loading that code
back is a small part of the work. So the code is kept in a file (in the user's cache directory,
one for every data directory: session/build.py's pattern_cache) named by a hash of the table and of this
Python's regex engine, and any doubt (another Python, a damaged or foreign file, an internal
that moved) falls back to compiling, which is always right.
"""

from __future__ import annotations

import contextlib
import hashlib
import marshal
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from triage_cli.private_dirs import owned_privately, write_private

_Code = tuple[str, int, list[int], int, dict[str, int]]  # pattern, flags, code, groups, group names


class PatternCache:
    """`compile(key, text)` like re.compile(text(), IGNORECASE) (or, `ignore_case=False`, as
    written: for text lower-cased first), from the file's code where it has `key` (so not even the
    pattern's text is built again); `save` writes what was compiled anew, once, if there is a file
    to write."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._known: dict[str, _Code] = _load(path) if path is not None else {}
        self._new: dict[str, _Code] = {}

    def compile(self, key: str, text: Callable[[], str], *, ignore_case: bool = True) -> re.Pattern[str]:
        flags = re.IGNORECASE if ignore_case else re.NOFLAG
        key = key if ignore_case else f"as written\n{key}"
        code = self._known.get(key)
        if code is not None:
            with contextlib.suppress(Exception):  # a code the engine refuses: compile instead
                return _from_code(code)
        source = text()
        pattern = re.compile(source, flags)
        if self.path is not None:
            with contextlib.suppress(Exception):
                self._new[key] = _code_of(source, flags)
        return pattern

    def save(self) -> None:
        if self.path is None or not self._new:
            return
        with contextlib.suppress(OSError, ValueError):
            write_private(self.path, marshal.dumps({**self._known, **self._new}))
        self._new = {}


def cache_file(directory: Path | None, source: str) -> Path | None:
    """Where the code for patterns from `source` lives in `directory`, for this Python."""
    if directory is None:
        return None
    engine = f"{sys.version}|{_engine_magic()}"
    digest = hashlib.sha256(f"{engine}\n{source}".encode()).hexdigest()[:20]
    return directory / f"patterns-{digest}.marshal"


def _engine_magic() -> int:
    from re import _constants  # type: ignore[attr-defined]

    return int(_constants.MAGIC)


def _load(path: Path) -> dict[str, _Code]:
    """The kept code, if this user's alone (code someone else could write decides escalations)."""
    if not owned_privately(path):
        return {}
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _code_of(text: str, flags: re.RegexFlag) -> _Code:
    from re import _compiler, _parser  # type: ignore[attr-defined]

    parsed: Any = _parser.parse(text, flags)
    code = _compiler._code(parsed, flags)
    return (text, int(flags | parsed.state.flags), [int(op) for op in code], int(parsed.state.groups),
            {str(name): int(number) for name, number in parsed.state.groupdict.items()})


def _from_code(code: _Code) -> re.Pattern[str]:
    import _sre  # type: ignore[import-not-found]

    text, flags, instructions, groups, names = code
    index = [None] * groups
    for name, number in names.items():
        index[number] = name  # type: ignore[call-overload]
    pattern: re.Pattern[str] = _sre.compile(text, flags, instructions, groups - 1, names, tuple(index))
    return pattern
