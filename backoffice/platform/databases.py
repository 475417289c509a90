"""Where the database is: the URLs as SQLAlchemy and psycopg 3 read them, the engines' options, and, when no URL is
set, the embedded server's (``backoffice embedded``, which ``make run`` starts).

PostgreSQL is the one database: a URL of another is refused when the settings are read, with what to use instead."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from psycopg import RawCursor
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from backoffice.platform.replica import BIND, CONNECT_TIMEOUT_SECONDS

EMBEDDED_DATABASE = "backoffice"
EMBEDDED_RUNTIME_ROLE = "backoffice_runtime"
EMBEDDED_OWNER = "postgres"


def embedded_folder(instance_path: str | Path) -> Path:
    """The embedded server's data folder, unless another is given: the instance folder's ``postgres``."""
    return Path(instance_path).resolve() / "postgres"


def embedded_url(folder: Path, *, owner: bool = False) -> str:
    """The embedded server's database, as its runtime role (or its ``owner``): over the Unix socket of the server whose
    data is ``folder``, in the directory its ``postmaster.pid`` names (PostgreSQL writes it there, fifth of its lines,
    while it runs), else the folder itself, where the server puts its socket when the path is short enough for one."""
    try:
        lines = (folder / "postmaster.pid").read_text().splitlines()
    except OSError:
        lines = []
    socket = lines[4] if len(lines) > 4 and lines[4] else folder
    user = EMBEDDED_OWNER if owner else EMBEDDED_RUNTIME_ROLE
    return f"postgresql+psycopg://{user}@/{EMBEDDED_DATABASE}?host={socket}"


def engine_options(given: dict, *, prepared: bool = True) -> dict:
    """The database engine's options (``given`` first): statements reach psycopg with their
    parameters numbered (``$1``), which its raw cursor sends as they are, rather than with named ones that
    psycopg would parse out of every statement again (it remembers the parsing only of statements under 4 kB
    with 50 parameters at most: a wallet movement, one statement, is longer). Unless ``prepared``, psycopg prepares
    no statement on the server: a pooler in transaction mode may run a connection's next transaction on another
    server connection, which does not have it."""
    unprepared = {} if prepared else {"prepare_threshold": None}
    connect_args = {"cursor_factory": RawCursor} | unprepared | given.get("connect_args", {})
    return {"paramstyle": "numeric_dollar"} | given | {"connect_args": connect_args}


def insert_many_as_one(engine: Engine) -> None:
    """Rows inserted by one statement a thousand rows (SQLAlchemy's "insertmanyvalues", as its psycopg2 dialect does
    by default) rather than a statement a row: psycopg 3 sends an ``executemany`` a statement a row, pipelined, and
    each is parsed, planned and run on its own (10,000 invoices posted with their entries, lines and settlements:
    140,000 statements)."""
    engine.dialect.use_insertmanyvalues_wo_returning = True


def binds(config: Mapping) -> dict:
    """The app's other engines: the read replica's, when one is set, with the primary's options and a short timeout
    to connect (a replica that cannot be reached is soon given up for the primary)."""
    url = config.get("READ_DATABASE_URL")
    if url is None:
        return {}
    url = database_url(url)
    options = engine_options(
        {"connect_args": {"connect_timeout": CONNECT_TIMEOUT_SECONDS}},
        prepared=config.get("DATABASE_PREPARED_STATEMENTS", True),
    )
    return {BIND: {"url": url, **options}}


def database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the common short form; several servers (a primary and its
    standbys) given as one list of ``host:port`` are given one by one, as SQLAlchemy reads them (see
    :func:`_hosts_one_by_one`)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    return _hosts_one_by_one(url) if url.startswith("postgresql") else url


def _hosts_one_by_one(url: str) -> str:
    """``?host=a:5442,b:5443`` as ``?host=a:5442&host=b:5443``. SQLAlchemy reads several servers as a ``host`` each
    (with its port), or as libpq's lists, ``?host=a,b&port=5442,5443``; a list of hosts with their ports it would
    give psycopg as one host named ``a:5442,b:5443``."""
    address, mark, query = url.partition("?")
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name == "host" and "," in value and ":" in value for name, value in pairs):
        return url
    split = [(name, one) for name, value in pairs for one in (value.split(",") if name == "host" else [value])]
    return address + mark + urlencode(split, safe=":/,[]")


def parallel_workers(connection: Connection, workers: int) -> None:
    """Plan the rest of the connection's transaction with at most ``workers`` of PostgreSQL's parallel workers a
    statement (``max_parallel_workers_per_gather``); a setting of the transaction alone, as :func:`without_jit`."""
    connection.execute(text(f"SET LOCAL max_parallel_workers_per_gather = {int(workers)}"))


def without_jit(connection: Connection) -> None:
    """Plan the rest of the connection's transaction without PostgreSQL's JIT compilation: for the long generated
    statements of the checks and the anchors, each run once, it compiled for longer than they ran
    (``history_drift``'s union of every versioned table: 5.2 s of compiling for a 5.8 s statement). A setting of the
    transaction alone, which a pooler's server connection does not carry to the next."""
    connection.execute(text("SET LOCAL jit = off"))


def analyze_due(connection: Connection) -> int:
    """Refresh the planner's statistics of the tables a bulk write has changed by more than autovacuum's default
    threshold (migration ``0094``'s ``analyze_due``, which the runtime role may run): what PostgreSQL advises after
    loading data, before it is read back. How many tables were analysed."""
    return connection.execute(text("SELECT analyze_due()")).scalar_one()


def advisory_key(name: str, size: int) -> int:
    """A stable signed integer of ``size`` bytes for the name, as PostgreSQL's advisory lock keys are."""
    digest = hashlib.blake2b(f"backoffice.reconcile:{name}".encode(), digest_size=size).digest()
    return int.from_bytes(digest, "big", signed=True)
