"""Run the real CLI (`triage_cli.cli.main`) inside the test process, or as a process.

A process costs 0.5-1.5 s (the interpreter, typer, rich, the openai SDK); in-process a run costs
what the command itself does. In-process, everything a fresh process would start from is set up
for the call and put back afterwards: argv, os.environ, the working directory, stdin/stdout/stderr
(in-memory, so nothing can reach pytest's own file descriptors) and the CLI's per-process state.
What only a process shows (signals, a pty, a closed stdout, the interpreter's exit code after a
broken pipe, import time, argv bytes that are not UTF-8) needs `process=True`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass


@dataclass
class Result:
    code: int
    out: str
    err: str


def run_process(args: tuple[str, ...], data: bytes, env: dict[str, str], timeout: float) -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "triage_cli", *args],
        input=data, capture_output=True, env=env, timeout=timeout, cwd=os.getcwd(),
    )
    return Result(proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace"))


def _exit_code(exit: SystemExit, stderr: io.TextIOBase) -> int:
    """What the interpreter makes of SystemExit: None is 0, an int itself, anything else printed
    on stderr and 1."""
    if exit.code is None:
        return 0
    if isinstance(exit.code, int):
        return exit.code
    stderr.write(f"{exit.code}\n")
    return 1


def _read_at_start(name: str) -> bool:
    """Whether the interpreter reads variable `name` when it starts (PYTHONUNBUFFERED aside: the
    in-memory streams write through anyway), so a run that changes it needs its own process."""
    return (name.startswith("PYTHON") and name != "PYTHONUNBUFFERED") or name == "LANG" or name.startswith("LC_")


def run_in_process(args: tuple[str, ...], data: bytes, env: dict[str, str]) -> Result:
    """`python -m triage_cli ARGS` with `data` on stdin and exactly `env` as the environment, run
    by calling the CLI's entry point. The streams are those a process gets on pipes in a UTF-8
    locale (surrogateescape; backslashreplace on stderr); PYTHONUNBUFFERED makes them write
    through."""
    changed = [name for name in {*env, *os.environ} if _read_at_start(name) and env.get(name) != os.environ.get(name)]
    assert not changed, f"{changed} act when Python starts: run with process=True"
    from triage_cli import cli, cli_common
    from triage_cli import settings_table
    from triage_cli.store import database

    out, err = io.BytesIO(), io.BytesIO()
    streams = (
        io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape"),
        io.TextIOWrapper(out, encoding="utf-8", errors="surrogateescape", write_through=True),
        io.TextIOWrapper(err, encoding="utf-8", errors="backslashreplace", write_through=True),
    )
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    saved_argv, saved_env, saved_cwd = sys.argv, dict(os.environ), os.getcwd()
    sys.stdin, sys.stdout, sys.stderr = streams
    sys.argv = [os.path.join(os.path.dirname(cli.__file__), "__main__.py"), *args]
    os.environ.clear()
    os.environ.update(env)
    try:
        try:
            cli.main()
            code = 0
        except SystemExit as exit:
            code = _exit_code(exit, streams[2])
        except BaseException:  # noqa: BLE001 - what the interpreter does with an uncaught exception
            traceback.print_exc(file=streams[2])
            code = 1
        for stream in streams[1:]:
            stream.flush()
        return Result(code, out.getvalue().decode("utf-8", "replace"), err.getvalue().decode("utf-8", "replace"))
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        sys.argv = saved_argv
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        # A process ends here: what it remembered about itself goes with it.
        cli_common._warned.clear()
        database._READY.clear()
        settings_table.forget_config_file()
