"""`async with` for anything with an `aclose()`: the local and the remote session both close
what they own that way."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class AsyncClosing:
    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.aclose()
