"""Running the CLI in a pseudo-terminal of a given size and keeping every byte it writes, for
tests that check the scrollback and for the benchmark."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import sys
import termios
import threading
import time


def run_in_pty(args: list[str], env: dict[str, str], rows: int, columns: int) -> tuple[float, float, bytes]:
    """Run `python -m triage_cli ARGS` in a rows x columns pty, draining its output as it comes;
    returns (seconds, the child's peak RSS in MiB, everything it wrote)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: size its terminal before anything can ask for the size
        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        os.execvpe(sys.executable, [sys.executable, "-m", "triage_cli", *args], env)
    started = time.perf_counter()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - started
    reader.join(timeout=5)
    os.close(fd)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"triage {' '.join(args)} failed:\n{b''.join(chunks).decode(errors='replace')[-2000:]}")
    return elapsed, usage.ru_maxrss / 1024, b"".join(chunks)


def terminal_lines(output: bytes, rows: int, columns: int) -> list[str]:
    """Every line a rows x columns terminal holds after `output`: its scrollback, then the screen."""
    import pyte

    screen = pyte.HistoryScreen(columns, rows, history=100_000)
    pyte.ByteStream(screen).feed(output)
    history = ["".join(line[x].data for x in range(columns)).rstrip() for line in screen.history.top]
    return history + [line.rstrip() for line in screen.display]
