"""A real PostgreSQL server for the tests, made with Debian's `initdb` in a temporary directory
and run as `postgres` by this process (its pid is the Popen's), on a unix socket in that
directory: no port to collide on. PostgreSQL refuses to run as root, so under root (CI) the
cluster belongs to the unprivileged user `nobody` and the server runs as it.

Each test gets a database of its own (`new_database`); the server is stopped by its pid."""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

SUPERUSER = "triage"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class Unavailable(Exception):
    """No PostgreSQL server can be had on this machine (the message says why, in one line)."""


def binaries() -> Path:
    """The directory holding initdb and postgres: on PATH, else the newest /usr/lib/postgresql/N/bin."""
    found = shutil.which("initdb")
    if found and (Path(found).resolve().parent / "postgres").exists():
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(Path(p).parts[-3]))
    if not versions:
        raise Unavailable("PostgreSQL is not installed (no initdb on PATH or in /usr/lib/postgresql/*/bin)")
    return Path(versions[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self.bin = binaries()
        self.directory = Path(tempfile.mkdtemp(prefix="triage-pg-"))
        self.data = self.directory / "data"
        self.log = self.directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._names = itertools.count(1)
        self.user: dict[str, int | str] = {}
        if os.geteuid() == 0:
            try:
                nobody = pwd.getpwnam("nobody")
            except KeyError:
                raise Unavailable("running as root and there is no user 'nobody' to run PostgreSQL as") from None
            self.user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
            os.chown(self.directory, nobody.pw_uid, nobody.pw_gid)
        self.directory.chmod(0o700)
        initdb = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-A", "trust", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-sync"],
            capture_output=True, **self.user)  # type: ignore[call-overload]
        if initdb.returncode != 0:
            self.remove()
            raise Unavailable(f"initdb failed: {initdb.stderr.decode(errors='replace').strip().splitlines()[-1:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.directory}"

    def start(self, *, durable: bool = False) -> None:
        """Start the server (again) on the same data, and wait until it takes connections. Not
        `durable` (the tests): no fsync, as nothing need survive a crash of the machine."""
        import psycopg

        fast = () if durable else ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.directory),
                 "-c", "listen_addresses=", *fast, "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, **self.user)  # type: ignore[call-overload]
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise Unavailable(f"postgres did not start: {self.log.read_text(errors='replace')[-300:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop the server by its pid (a fast shutdown: clients are disconnected at once)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGINT)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def new_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """A started PostgreSQL server (stop and remove it after); where none can be had, the test
    skips with the reason, except in CI, where PostgreSQL must be there (.ci/run installs it)."""
    try:
        server = PostgresServer()
        server.start()
    except Unavailable as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is needed in CI: {exc}")
        pytest.skip(f"no PostgreSQL here: {exc}")
    return server
