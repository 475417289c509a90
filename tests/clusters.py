"""PostgreSQL servers of the tests' own: a primary, a synchronous standby, a server restored from a backup.

Each is made by Debian's ``initdb`` into a directory of its own, listens on a free port of 127.0.0.1 (and a socket in
its directory), trusts local connections and is removed, files and all, when the test is done. The servers run as
the ``postgres`` user when the tests run as root (PostgreSQL refuses root), as the tests' user otherwise. Where the
server's binaries are missing, the tests that need them skip (under CI they fail: see ``require_service``).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": 60,
    "shared_buffers": "'32MB'",
    "fsync": "off",
    "wal_level": "replica",
    "max_wal_senders": 8,
    "hot_standby": "on",
    "hot_standby_feedback": "on",
    "wal_keep_size": "'64MB'",
    "log_min_messages": "warning",
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track": "all",
}
"""Every server's settings: small, quick, replicating, and counting the statements it runs."""


def binaries() -> Path | None:
    """The directory of the newest PostgreSQL server's binaries on this machine, if any."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda path: int(path.split("/")[-3]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _owner() -> pwd.struct_passwd | None:
    """The user the servers run as: ``postgres`` when the tests run as root."""
    return pwd.getpwnam("postgres") if os.geteuid() == 0 else None


def run(*command, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    """A PostgreSQL program, as the servers' user."""
    owner = _owner()
    prefix = ["runuser", "-u", owner.pw_name, "--"] if owner else []
    return subprocess.run(
        [*prefix, str(binaries() / command[0]), *map(str, command[1:])],
        check=check,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )


def directory(prefix: str) -> Path:
    """A new empty directory the servers' user owns."""
    path = Path(tempfile.mkdtemp(prefix=f"backoffice-{prefix}-"))
    if owner := _owner():
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return path


class Cluster:
    """One PostgreSQL server: its data directory and its port."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port

    @classmethod
    def create(cls, name: str = "primary", **settings) -> Cluster:
        """A new primary, started; one that fails to start leaves nothing."""
        home = directory(name)
        data = home / "data"
        cluster = cls(data, free_port())
        try:
            run("initdb", "--auth=trust", "--username=postgres", "--encoding=UTF8", "--no-sync", "-D", data)
            cluster.configure(**settings)
            cluster.start()
        except BaseException:
            cluster.remove()
            raise
        return cluster

    @classmethod
    def standby_of(cls, primary: Cluster, name: str = "standby", **settings) -> Cluster:
        """A hot standby streaming from ``primary``, started; named ``name`` to the primary (its
        ``application_name``, which ``synchronous_standby_names`` lists). Its backup's checkpoint is a fast one; a
        standby that fails to start leaves nothing."""
        home = directory(name)
        data = home / "data"
        standby = cls(data, free_port())
        try:
            run(
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                primary.port,
                "-U",
                "postgres",
                "-D",
                data,
                "-X",
                "stream",
                "-c",
                "fast",
            )
            standby._append("standby.signal", [])
            conninfo = f"host=127.0.0.1 port={primary.port} user=postgres application_name={name}"
            standby.configure(primary_conninfo=f"'{conninfo}'", **settings)
            standby.start()
        except BaseException:
            standby.remove()
            raise
        return standby

    @classmethod
    def from_backup(cls, backup: Path, **settings) -> Cluster:
        """A server recovering from ``backup``, a data directory :meth:`base_backup` made (taken over, not copied),
        with the recovery's ``settings`` (``restore_command``, a target, what to do there), started: PostgreSQL's
        targeted recovery (``recovery.signal``), which ends at the target, or at the end of the archive."""
        restored = cls(backup, free_port())
        restored._append("recovery.signal", [])
        restored.configure(**settings)
        restored.start()
        return restored

    def base_backup(self, name: str = "backup") -> Path:
        """A base backup of the server, plain, without its WAL (a recovery reads it from the archive): the data
        directory of a new directory of its own, which :meth:`from_backup` starts a server on. Its checkpoint is a
        fast one: a spread one, the default, spreads its writes over minutes. A backup that fails leaves nothing."""
        home = directory(name)
        try:
            run(
                "pg_basebackup",
                "-h",
                "127.0.0.1",
                "-p",
                self.port,
                "-U",
                "postgres",
                "-D",
                home / "data",
                "-X",
                "none",
                "-c",
                "fast",
            )
        except BaseException:
            shutil.rmtree(home, ignore_errors=True)
            raise
        return home / "data"

    @property
    def home(self) -> Path:
        return self.data.parent

    def configure(self, **settings) -> None:
        """Append settings to the server's configuration (the last one of a name wins); a running server is
        reloaded."""
        lines = [f"{name.replace('__', '.')} = {value}" for name, value in (SETTINGS | settings).items()]
        lines.append(f"port = {self.port}")
        lines.append(f"unix_socket_directories = '{self.home}'")
        self._append("postgresql.conf", lines)
        if self.running():
            run("pg_ctl", "-D", self.data, "reload")

    def _append(self, name: str, lines: list[str]) -> None:
        path = self.data / name
        # Written as the servers' user would: the file keeps its owner.
        with open(path, "a") as file:
            file.write("\n".join(lines) + "\n")

    def start(self) -> None:
        """Start the server; on another free port if its own was taken meanwhile (by another run's server)."""
        for attempt in range(3):
            started = run(
                "pg_ctl", "-D", self.data, "-l", self.home / "server.log", "-w", "-t", "60", "start", check=attempt == 2
            )
            if started.returncode == 0:
                return
            self.port = free_port()
            self._append("postgresql.conf", [f"port = {self.port}"])

    def stop(self) -> None:
        run("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)

    def running(self) -> bool:
        pid = self.postmaster()
        return pid is not None and _alive(pid)

    def postmaster(self) -> int | None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        return None

    def kill(self) -> None:
        """The machine dies: SIGKILL to the server and every process of it, at once."""
        pid = self.postmaster()
        if pid is None:
            return
        children = [int(line) for line in _children(pid)]
        for process in (pid, *children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(process, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(process) for process in (pid, *children)):
            time.sleep(0.02)

    def promote(self) -> None:
        run("pg_ctl", "-D", self.data, "-w", "promote")

    def remove(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def engine(self, database: str = "postgres", **options) -> sa.Engine:
        from backoffice.platform.databases import database_url

        return sa.create_engine(database_url(self.url(database)), **options)

    def execute(self, statement: str, database: str = "postgres", **parameters):
        """One statement in autocommit (``CREATE DATABASE`` needs it); its rows, if it returns any."""
        engine = self.engine(database, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as connection:
                result = connection.execute(sa.text(statement), parameters)
                return result.all() if result.returns_rows else None
        finally:
            engine.dispose()

    def create_database(self, name: str) -> str:
        self.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        with contextlib.suppress(FileNotFoundError):
            return (self.home / "server.log").read_text()
        return ""


def _children(pid: int) -> list[str]:
    result = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return result.stdout.split()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(FileNotFoundError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    return False


def wait_for(condition, timeout: float = 30, every: float = 0.05):
    """``condition()`` until it is true (returned) or ``timeout`` seconds have passed (AssertionError)."""
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {condition}")
        time.sleep(every)
