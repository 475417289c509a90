"""The runtime role: what the running application may do in its PostgreSQL database, and nothing more.

The owner runs the migrations and ``backoffice db grant-runtime ROLE``; the application connects as ``ROLE``, which
owns nothing, so it can neither change the schema nor disable the guards of the evidence. The grant is read from the
database's catalogue as the migrations left it, never from a list kept here. :func:`held` reads back what a role
holds, for ``backoffice db restore-check``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from sqlalchemy import Connection, text

APPEND_ONLY_GUARD = "evidence_no_truncate"
"""The trigger function of the ``TRUNCATE`` guard that every append-only table carries: the ledger, the books,
the reconciliation audit trail (migration ``0011``), the closes and reopenings of months (``0016``) and the
history (``0021``). The tables with a trigger running it are the database's own list of its append-only tables;
a migration that makes another table append-only gives it that guard too."""

CHANGED_AFTER_INSERT: dict[str, tuple[str, ...]] = {
    "journal_entries": ("status", "posted_at", "posted_by_id", "source_id", "description"),
    "approval_requests": (
        "status",
        "decided_by_id",
        "decided_at",
        "rejection_reason",
        "result_movement_id",
        "result_entry_id",
        "first_approved_by_id",
        "first_approved_at",
    ),
    "invoice_lines": ("amount", "vat"),
}
"""What the application changes in the rows of an append-only table after inserting them, column by column: a
draft journal entry is posted (by whom, when, with the source it records and its description) or voided, and an
approval request is approved first (a clerk's, above the limit) and decided. Their triggers refuse each change once
the entry is posted or the request is decided; an invoice's line keeps its words and rate, its base and VAT moved
by the correction of its one-line invoice. A finding of tampered evidence is decided through the owner's
``decide_tampered_evidence`` (migration ``0048``), never by an ``UPDATE`` of the runtime role's. No other column of
these tables is ever updated (a run ends through ``end_reconciliation_run``), and no row of any append-only table is
ever deleted."""

MOVED_BY_FUNCTION: dict[str, tuple[str, ...]] = {"jobs": ("status", "started_at", "ended_at")}
"""The columns of an ordinary table the runtime role may not update: a job's state moves only through the owner's
``move_job`` (migration ``0041``), by its real transitions, so that no one can mark a nightly finished that never
ran. The role updates the table's other columns (its progress, its message, its heartbeat)."""

VERSION_TABLE = "alembic_version"
READ_ONLY_TABLES = (VERSION_TABLE, "posting_rules")
"""The tables the runtime role only reads: the schema's version, and the rule table the posting functions read."""
"""The migrations' own table: read, never written, by the application."""

TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE")
MOVED_PRIVILEGES = ("SELECT", "INSERT", "DELETE")
APPEND_PRIVILEGES = ("SELECT", "INSERT")
DATABASE_PRIVILEGES = ("CONNECT", "TEMPORARY")


class RoleRefused(Exception):
    """The role cannot be made the runtime role: nothing was granted."""


class Privilege(NamedTuple):
    """One privilege a role holds on one object of the database: the database itself, its schema, a table (or one
    column of it, for a column's ``UPDATE``), a sequence or a function."""

    privilege: str
    kind: str
    name: str
    column: str = ""

    def __str__(self) -> str:
        return described([self])[0]


@dataclass
class Grant:
    """What ``grant-runtime`` grants a role, read from the catalogue."""

    role: str
    database: str
    schema: str
    tables: list[str] = field(default_factory=list)
    moved: dict[str, list[str]] = field(default_factory=dict)
    """Each table of :data:`MOVED_BY_FUNCTION` and the columns the role may update in it."""
    append_only: dict[str, list[str]] = field(default_factory=dict)
    """Each append-only table and the columns the role may update in it (often none)."""
    read_only: list[str] = field(default_factory=list)
    sequences: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)

    def statements(self) -> list[str]:
        """Revoke what the role had, then grant what it needs, in one transaction: running it again changes nothing,
        and a table that became append-only loses the ``UPDATE`` and ``DELETE`` an earlier grant gave it."""
        role, schema = _quoted(self.role), _quoted(self.schema)
        every = [*self.tables, *self.moved, *self.append_only, *self.read_only]
        statements = [f"GRANT {', '.join(DATABASE_PRIVILEGES)} ON DATABASE {_quoted(self.database)} TO {role}"]
        statements.append(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        if every:
            statements.append(f"REVOKE ALL ON TABLE {_names(schema, every)} FROM {role}")
        if self.tables:
            statements.append(f"GRANT {', '.join(TABLE_PRIVILEGES)} ON TABLE {_names(schema, self.tables)} TO {role}")
        if self.moved:
            statements.append(f"GRANT {', '.join(MOVED_PRIVILEGES)} ON TABLE {_names(schema, self.moved)} TO {role}")
        for table, columns in self.moved.items():
            listed = ", ".join(_quoted(column) for column in columns)
            statements.append(f"GRANT UPDATE ({listed}) ON TABLE {schema}.{_quoted(table)} TO {role}")
        if self.append_only:
            statements.append(
                f"GRANT {', '.join(APPEND_PRIVILEGES)} ON TABLE {_names(schema, self.append_only)} TO {role}"
            )
        for table, columns in self.append_only.items():
            if columns:
                listed = ", ".join(_quoted(column) for column in columns)
                statements.append(f"GRANT UPDATE ({listed}) ON TABLE {schema}.{_quoted(table)} TO {role}")
        if self.read_only:
            statements.append(f"GRANT SELECT ON TABLE {_names(schema, self.read_only)} TO {role}")
        if self.sequences:
            names = _names(schema, self.sequences)
            statements.append(f"REVOKE ALL ON SEQUENCE {names} FROM {role}")
            statements.append(f"GRANT USAGE ON SEQUENCE {names} TO {role}")
        statements.extend(f"GRANT EXECUTE ON FUNCTION {schema}.{function} TO {role}" for function in self.functions)
        return statements

    def privileges(self) -> set[Privilege]:
        """Each privilege the role holds once :meth:`statements` ran, as :func:`held` reads them back."""
        found = {Privilege(privilege, "database", self.database) for privilege in DATABASE_PRIVILEGES}
        found.add(Privilege("USAGE", "schema", self.schema))
        for tables, privileges in (
            (self.tables, TABLE_PRIVILEGES),
            (self.moved, MOVED_PRIVILEGES),
            (self.append_only, APPEND_PRIVILEGES),
            (self.read_only, ("SELECT",)),
        ):
            found |= {Privilege(privilege, "table", table) for table in tables for privilege in privileges}
        for updated in (self.moved, self.append_only):
            found |= {Privilege("UPDATE", "table", table, column) for table, cs in updated.items() for column in cs}
        found |= {Privilege("USAGE", "sequence", sequence) for sequence in self.sequences}
        found |= {Privilege("EXECUTE", "function", function) for function in self.functions}
        return found

    def summary(self) -> list[str]:
        """What was granted, a line for each kind of grant."""
        lines = [
            f"CONNECT, TEMPORARY on database {self.database}; USAGE on schema {self.schema}",
            f"SELECT, INSERT, UPDATE, DELETE on {len(self.tables)} table(s): {', '.join(self.tables) or '-'}",
            f"SELECT, INSERT on {len(self.append_only)} append-only table(s): {', '.join(self.append_only) or '-'}",
        ]
        lines.extend(f"SELECT, INSERT, DELETE, UPDATE ({', '.join(cols)}) on {t}" for t, cols in self.moved.items())
        lines.extend(
            f"UPDATE ({', '.join(columns)}) on {table}" for table, columns in self.append_only.items() if columns
        )
        lines.append(f"SELECT on {', '.join(self.read_only) or '-'}")
        lines.append(f"USAGE on {len(self.sequences)} sequence(s)")
        lines.append(f"EXECUTE on {', '.join(self.functions) or '-'}")
        lines.append("no TRUNCATE, no REFERENCES, no TRIGGER, no ownership")
        return lines


def grant_runtime(connection: Connection, role: str) -> Grant:
    """Grant ``role`` what the running application needs in the connection's database (as its owner, in the
    connection's transaction); raises :class:`RoleRefused`, having granted nothing, for a role that does not exist
    or that could change the schema or pass the guards whatever it is granted."""
    grant = runtime_grant(connection, role)
    for statement in grant.statements():
        connection.exec_driver_sql(statement)
    return grant


def runtime_grant(connection: Connection, role: str) -> Grant:
    """What :func:`grant_runtime` grants ``role``, read from the catalogue; refuses as it does."""
    _refuse_unfit(connection, role)
    database, schema = connection.execute(text("SELECT current_database(), current_schema()")).one()
    grant = Grant(role=role, database=database, schema=schema)
    append_only = set(append_only_tables(connection))
    columns = _columns(connection)
    for table in _tables(connection):
        if table in READ_ONLY_TABLES:
            grant.read_only.append(table)
        elif table in MOVED_BY_FUNCTION:
            withheld = MOVED_BY_FUNCTION[table]
            grant.moved[table] = sorted(column for column in columns.get(table, ()) if column not in withheld)
        elif table in append_only:
            changed = CHANGED_AFTER_INSERT.get(table, ())
            grant.append_only[table] = [column for column in changed if column in columns.get(table, ())]
        else:
            grant.tables.append(table)
    grant.sequences = list(
        connection.execute(
            text(
                "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = current_schema()::regnamespace"
                " ORDER BY relname"
            )
        ).scalars()
    )
    grant.functions = list(
        connection.execute(
            text(
                "SELECT format('%I(%s)', proname, pg_get_function_identity_arguments(oid)) FROM pg_proc"
                " WHERE prosecdef AND pronamespace = current_schema()::regnamespace ORDER BY proname"
            )
        ).scalars()
    )
    return grant


def held(connection: Connection, role: str) -> set[Privilege]:
    """The privileges granted to ``role`` itself in the connection's database, read from the access lists of the
    database, its schema, and the schema's tables, columns, sequences and functions. What the role holds through
    ``PUBLIC`` or another role is not its own grant, and is left out (a new database lets ``PUBLIC`` connect)."""
    return {Privilege(*row) for row in connection.execute(text(_HELD), {"role": role})}


_HELD = """
WITH grantee AS (SELECT oid FROM pg_roles WHERE rolname = :role),
objects AS (
    SELECT 'database' AS kind, datname::text AS name, '' AS column_name, datacl AS acl FROM pg_database
    WHERE datname = current_database()
    UNION ALL SELECT 'schema', nspname::text, '', nspacl FROM pg_namespace WHERE oid = current_schema()::regnamespace
    UNION ALL SELECT CASE relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, relname::text, '', relacl FROM pg_class
    WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p', 'S', 'v', 'm')
    UNION ALL SELECT 'table', c.relname::text, a.attname::text, a.attacl FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = current_schema()::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    AND a.attacl IS NOT NULL
    UNION ALL SELECT 'function', format('%I(%s)', proname, pg_get_function_identity_arguments(oid)), '', proacl
    FROM pg_proc WHERE pronamespace = current_schema()::regnamespace
)
SELECT granted.privilege_type, objects.kind, objects.name, objects.column_name
FROM objects, aclexplode(objects.acl) AS granted
WHERE granted.grantee = (SELECT oid FROM grantee)
"""


KINDS = ("database", "schema", "table", "sequence", "function")
PRIVILEGE_ORDER = ("CONNECT", "TEMPORARY", "CREATE", "USAGE", "SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE")


def described(privileges) -> list[str]:
    """The privileges as GRANT writes them, one text per object, the database's and the schema's first (which every
    other one needs): ``SELECT, INSERT, UPDATE (status, posted_at) on table journal_entries``."""
    objects: dict[tuple[str, str], list[Privilege]] = {}
    for privilege in privileges:
        objects.setdefault((privilege.kind, privilege.name), []).append(privilege)
    texts = []
    for kind, name in sorted(objects, key=lambda key: (KINDS.index(key[0]) if key[0] in KINDS else len(KINDS), key)):
        columns: dict[str, list[str]] = {}
        for privilege in objects[kind, name]:
            columns.setdefault(privilege.privilege, []).append(privilege.column)
        words = []
        for word in sorted(columns, key=_in_order):
            named = sorted(column for column in columns[word] if column)
            if "" in columns[word]:
                words.append(word)
            if named:
                words.append(f"{word} ({', '.join(named)})")
        texts.append(f"{', '.join(words)} on {kind} {name}")
    return texts


def _in_order(privilege: str) -> tuple[int, str]:
    return (PRIVILEGE_ORDER.index(privilege) if privilege in PRIVILEGE_ORDER else len(PRIVILEGE_ORDER), privilege)


def append_only_tables(connection: Connection) -> list[str]:
    """The schema's append-only tables: those that carry the ``TRUNCATE`` guard (:data:`APPEND_ONLY_GUARD`)."""
    return list(
        connection.execute(
            text(
                "SELECT DISTINCT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
                " JOIN pg_proc p ON p.oid = t.tgfoid"
                " WHERE p.proname = :guard AND c.relnamespace = current_schema()::regnamespace ORDER BY c.relname"
            ),
            {"guard": APPEND_ONLY_GUARD},
        ).scalars()
    )


def _tables(connection: Connection) -> list[str]:
    return list(
        connection.execute(
            text(
                "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p')"
                " AND relnamespace = current_schema()::regnamespace ORDER BY relname"
            )
        ).scalars()
    )


def _columns(connection: Connection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, column in connection.execute(
        text("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()")
    ):
        found.setdefault(table, set()).add(column)
    return found


POWERS = {
    "rolsuper": "SUPERUSER",
    "rolcreaterole": "CREATEROLE",
    "rolcreatedb": "CREATEDB",
    "rolbypassrls": "BYPASSRLS",
    "rolreplication": "REPLICATION",
}
"""The role attributes a runtime role may not hold, nor reach through a role it is a member of: each lets it pass the
guards whatever it is granted (CREATEROLE grants itself the owner; REPLICATION reads and BYPASSRLS passes the rows'
policies; CREATEDB makes databases it owns)."""


def _refuse_unfit(connection: Connection, role: str) -> None:
    """Refuse a role that does not exist, and one that could change the schema or pass the guards whatever it is
    granted: a superuser or a role with another of :data:`POWERS` (or a member of one), the owner of the database,
    of the schema or of one of its tables, a member of one, or a role that may create objects in the schema or the
    database (``CREATE`` granted to it or to ``PUBLIC``)."""
    found = connection.execute(
        text("SELECT rolsuper FROM pg_roles WHERE rolname = :role"), {"role": role}
    ).one_or_none()
    if found is None:
        raise RoleRefused(f'The role "{role}" does not exist: create it first (CREATE ROLE {_quoted(role)} LOGIN …).')
    if found.rolsuper:
        raise RoleRefused(f'"{role}" is a superuser: the runtime role must be an ordinary role.')
    powerful = connection.execute(
        text(
            "SELECT rolname, " + ", ".join(POWERS) + " FROM pg_roles"
            " WHERE pg_has_role(:role, oid, 'MEMBER') AND (" + " OR ".join(POWERS) + ")"
            " ORDER BY rolname <> :role, rolname LIMIT 1"
        ),
        {"role": role},
    ).one_or_none()
    if powerful is not None:
        held = " and ".join(power for column, power in POWERS.items() if powerful._mapping[column])
        if powerful.rolname == role:
            undo = f"ALTER ROLE {_quoted(role)} " + " ".join(f"NO{power}" for power in held.split(" and "))
            raise RoleRefused(f'"{role}" has {held}: the runtime role must be an ordinary role ({undo}).')
        raise RoleRefused(
            f'"{role}" is a member of {powerful.rolname}, which has {held}: the runtime role must be an ordinary '
            f"role (REVOKE {_quoted(powerful.rolname)} FROM {_quoted(role)})."
        )
    owners = connection.execute(
        text(
            "SELECT what, pg_get_userbyid(owner) FROM ("
            " SELECT 'the database ' || datname AS what, datdba AS owner FROM pg_database"
            " WHERE datname = current_database()"
            " UNION ALL SELECT 'the schema ' || nspname, nspowner FROM pg_namespace"
            " WHERE oid = current_schema()::regnamespace"
            " UNION ALL SELECT 'the table ' || relname, relowner FROM pg_class"
            " WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p', 'S', 'v', 'm')"
            " UNION ALL SELECT 'the function ' || proname, proowner FROM pg_proc"
            " WHERE pronamespace = current_schema()::regnamespace"
            ") AS owned WHERE pg_has_role(:role, owner, 'MEMBER') ORDER BY 1 LIMIT 1"
        ),
        {"role": role},
    ).one_or_none()
    if owners is not None:
        what, owner = owners
        whose = "owns" if owner == role else f"is a member of {owner}, which owns"
        raise RoleRefused(
            f'"{role}" {whose} {what}: the runtime role must own nothing (the owner runs the migrations).'
        )
    schema, schema_create, database_create = connection.execute(
        text(
            "SELECT current_schema(), has_schema_privilege(:role, current_schema(), 'CREATE'),"
            " has_database_privilege(:role, current_database(), 'CREATE')"
        ),
        {"role": role},
    ).one()
    if schema_create:
        raise RoleRefused(
            f'"{role}" may create tables in the schema (CREATE is granted to it or to PUBLIC): revoke it first, '
            f"REVOKE CREATE ON SCHEMA {_quoted(schema)} FROM PUBLIC (and from {_quoted(role)})."
        )
    if database_create:
        raise RoleRefused(
            f'"{role}" may create schemas in the database (CREATE is granted to it or to PUBLIC): revoke it first.'
        )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _names(schema: str, tables) -> str:
    return ", ".join(f"{schema}.{_quoted(table)}" for table in tables)
