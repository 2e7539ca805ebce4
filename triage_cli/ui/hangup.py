"""SIGTERM, and SIGHUP when the terminal is closed, end a run the way Ctrl-C ends an answer: the
answer in progress is cancelled, so it is stored as interrupted with everything said so far,
and the process exits with 128 + the signal's number."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from typing import Any

HANGUP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class Hangup:
    """While active, a hang-up signal calls `on_signal` (which cancels what is running)."""

    def __init__(self, on_signal: Callable[[], object]) -> None:
        self.on_signal = on_signal
        self.signum: int | None = None
        self._installed: list[int] = []

    def __enter__(self) -> Hangup:
        loop = asyncio.get_running_loop()
        self._installed = []
        for signum in HANGUP_SIGNALS:
            try:
                loop.add_signal_handler(signum, self._received, signum)
            except (NotImplementedError, RuntimeError):  # no signal handlers on this platform or thread
                continue
            self._installed.append(signum)
        return self

    def __exit__(self, *exc: object) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)

    def ended(self, error: BaseException) -> bool:
        """Whether `error` is how a hang-up ends a run: the cancellation it asked for, or output
        failing because the terminal is gone."""
        return self.signum is not None and isinstance(error, (asyncio.CancelledError, OSError))

    def _received(self, signum: int) -> None:
        self.signum = signum
        self.on_signal()

    @property
    def message(self) -> str:
        """The one line that says why the run ended."""
        name = signal.Signals(self.signum).name if self.signum else "a signal"
        verb = "hung up" if name == "SIGHUP" else "terminated"
        return f"{verb} ({name}); the partial answer is stored as interrupted"

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)


class Interrupts:
    """While active, Ctrl-C (SIGINT) calls `on_interrupt` on the running loop, instead of raising
    KeyboardInterrupt wherever the code happens to be."""

    def __init__(self, on_interrupt: Callable[[], object]) -> None:
        self.on_interrupt = on_interrupt
        self._installed = False

    def __enter__(self) -> Interrupts:
        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGINT, self.on_interrupt)
            self._installed = True
        except (NotImplementedError, RuntimeError):  # no signal handlers on this platform or thread
            pass
        return self

    def __exit__(self, *exc: object) -> None:
        if self._installed:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)


class StartupInterrupts:
    """Ctrl-C before the event loop runs (chat starting): noted, not raised; `pressed` says so.
    Entered as early as the command is known (cli.main) and again by the chat itself: the
    handler it replaced comes back when the outermost entry ends."""

    def __init__(self) -> None:
        self.pressed = False
        self._previous: Any = None
        self._depth = 0

    def note(self, *_: object) -> None:
        self.pressed = True

    def __enter__(self) -> StartupInterrupts:
        if self._depth == 0:
            self.pressed = False
            try:
                self._previous = signal.signal(signal.SIGINT, self.note)
            except ValueError:  # not the main thread
                self._previous = None
        self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        if self._depth == 0 and self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


CHAT_STARTING = StartupInterrupts()  # the one for `triage chat`, entered by cli.main and run_chat
