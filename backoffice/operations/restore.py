"""Whether a restored database can be trusted before it serves: what ``backoffice db restore-check`` finds, run after
every restore (see "Backups and restores" in docs/operators.md).

It checks the migrations, the runtime role's privileges, the seal key and every reconciliation check, in a transaction
that is rolled back, so nothing is written.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from backoffice.evidence import seals
from backoffice.models import ReconciliationRun, RunMode, RunTrigger, SealKey
from backoffice.platform.extensions import db
from backoffice.platform.runtime_role import Privilege, RoleRefused, described, held, runtime_grant
from backoffice.reconcile.engine import run

SHOWN = 5
"""The objects whose privileges are named, of those with some missing or extra; the rest are counted."""
SHOWN_FINGERPRINT = 12
"""The hexadecimal digits of a fingerprint shown (it tells nothing of the key, but a line has room for a few)."""


class Verdict(enum.StrEnum):
    OK = "ok"
    WRONG = "wrong"
    SKIPPED = "skipped"
    """Not looked at, as it was not asked for (no runtime role) or could not be (the checks, on a schema that is not
    the code's or under another seal key): what stopped it is a finding of its own."""


NAMES = {
    "migrations": _l("migrations"),
    "runtime_role": _l("runtime role"),
    "seal_key": _l("seal key"),
    "checks": _l("checks"),
}


@dataclass(frozen=True)
class Finding:
    name: str
    """One of :data:`NAMES`."""
    verdict: Verdict
    said: str
    run: ReconciliationRun | None = None
    """The checks' run, as the session holds it until its transaction is rolled back."""

    @property
    def named(self) -> str:
        return str(NAMES[self.name])


def examine(script: ScriptDirectory, role: str | None) -> list[Finding]:
    """Every finding on the database the app is bound to, in order: the migrations against ``script``'s head, the
    privileges of ``role`` (skipped without one), the seal key, and, when the schema is the code's and the key the
    evidence's, the checks."""
    with db.engine.connect() as connection:
        schema = migrations(connection, script)
        privileges = runtime_role(connection, role)
        key = seal_key(connection)
        recovering = connection.scalar(text("SELECT pg_is_in_recovery()"))
    return [schema, privileges, key, checks(schema, key, recovering)]


def migrations(connection: Connection, script: ScriptDirectory) -> Finding:
    """The database's revision is the migrations' head."""
    head = ", ".join(script.get_heads())
    at = MigrationContext.configure(connection).get_current_heads()
    if not at:
        return Finding(
            "migrations",
            Verdict.WRONG,
            _(
                "The database has no migrations' version (no alembic_version row; the code's head is %(head)s): it is "
                "not a back-office database, or the restore left tables out.",
                head=head,
            ),
        )
    revision = ", ".join(at)
    if set(at) == set(script.get_heads()):
        return Finding("migrations", Verdict.OK, _("At the code's head, %(head)s.", head=head))
    try:
        behind = sum(len(list(script.iterate_revisions("heads", current))) for current in at)
    except RevisionError:
        return Finding(
            "migrations",
            Verdict.WRONG,
            _(
                "The database is at %(revision)s, a revision these migrations do not know (the code's head is "
                "%(head)s): it was written by another version of the back-office.",
                revision=revision,
                head=head,
            ),
        )
    return Finding(
        "migrations",
        Verdict.WRONG,
        ngettext(
            "The database is at %(revision)s, %(num)s migration behind the code's head %(head)s: upgrade it "
            "(backoffice db upgrade, as its owner) before it serves.",
            "The database is at %(revision)s, %(num)s migrations behind the code's head %(head)s: upgrade it "
            "(backoffice db upgrade, as its owner) before it serves.",
            behind,
            revision=revision,
            head=head,
        ),
    )


def runtime_role(connection: Connection, role: str | None) -> Finding:
    """``role`` holds in the database exactly what ``backoffice db grant-runtime`` would grant it."""
    if not role:
        return Finding(
            "runtime_role",
            Verdict.SKIPPED,
            _("Not checked: no runtime role is set (BACKOFFICE_RUNTIME_ROLE, or --role)."),
        )
    try:
        expected = runtime_grant(connection, role).privileges()
    except RoleRefused as refused:
        return Finding("runtime_role", Verdict.WRONG, _("%(role)s: %(refusal)s", role=role, refusal=refused))
    holds = held(connection, role)
    missing, extra = expected - holds, holds - expected
    if not missing and not extra:
        return Finding(
            "runtime_role",
            Verdict.OK,
            _("%(role)s holds what backoffice db grant-runtime grants, and nothing more.", role=role),
        )
    return Finding(
        "runtime_role",
        Verdict.WRONG,
        _(
            "%(role)s does not hold what backoffice db grant-runtime grants. Missing: %(missing)s. Extra: %(extra)s. "
            "Grant it again (backoffice db grant-runtime %(role)s, as the database's owner).",
            role=role,
            missing=_listed(missing),
            extra=_listed(extra),
        ),
    )


def seal_key(connection: Connection) -> Finding:
    """The database keeps the fingerprint of the seal key this installation runs with."""
    mine = seals.fingerprint(seals.seal_key())
    kept = connection.scalar(seals.kept_query()) if inspect(connection).has_table(SealKey.__tablename__) else None
    if kept is None:
        return Finding(
            "seal_key",
            Verdict.WRONG,
            _(
                "The database keeps no fingerprint of the key its evidence is sealed with: whether it is this "
                "installation's key (fingerprint %(mine)s…) cannot be told.",
                mine=mine[:SHOWN_FINGERPRINT],
            ),
        )
    if not seals.same(kept, mine):
        return Finding(
            "seal_key",
            Verdict.WRONG,
            _(
                "The database's evidence is sealed with another key (fingerprint %(kept)s…) than this installation's "
                "(fingerprint %(mine)s…): nothing in it can be verified, and the application would refuse to seal "
                "anything. Check it with the key of the installation the backup was taken of (BACKOFFICE_SEAL_KEY or "
                "BACKOFFICE_SEAL_KEY_FILE).",
                kept=kept[:SHOWN_FINGERPRINT],
                mine=mine[:SHOWN_FINGERPRINT],
            ),
        )
    return Finding(
        "seal_key",
        Verdict.OK,
        _(
            "The fingerprint the database keeps is this installation's key's (%(mine)s…).",
            mine=mine[:SHOWN_FINGERPRINT],
        ),
    )


def checks(schema: Finding, key: Finding, recovering: bool) -> Finding:
    """Every check verified over everything, as a verify run; not run on a schema that is not the code's (the checks'
    SQL is the head's), under another seal key (the run would stop, verifying nothing), nor on a server still
    recovering (which refuses the run's record, even one rolled back)."""
    if schema.verdict is not Verdict.OK:
        return Finding("checks", Verdict.SKIPPED, _("Not run: the schema is not the code's (see the migrations)."))
    if key.verdict is not Verdict.OK:
        return Finding("checks", Verdict.SKIPPED, _("Not run: the evidence cannot be verified (see the seal key)."))
    if recovering:
        return Finding(
            "checks",
            Verdict.WRONG,
            _("Not run: the server is still recovering, read-only. Promote it (pg_ctl promote), then check again."),
        )
    try:
        record = run(RunMode.VERIFY, trigger=RunTrigger.CLI)
    except DBAPIError as error:
        db.session.rollback()
        reason = str(error.orig or error).strip().splitlines()[0]
        return Finding("checks", Verdict.WRONG, _("The run failed: %(reason)s", reason=reason))
    mismatched = [result for result in record.results if result.mismatched]
    if not mismatched:
        return Finding(
            "checks",
            Verdict.OK,
            _("All %(count)s checks are clean.", count=len(record.results)),
            record,
        )
    return Finding(
        "checks",
        Verdict.WRONG,
        _(
            "Mismatches in %(checks)s: the figures do not agree with their sources.",
            checks=", ".join(f"{result.check} ({result.mismatched})" for result in mismatched),
        ),
        record,
    )


def _listed(privileges: set[Privilege]) -> str:
    """The privileges on the first few objects, and how many objects more."""
    if not privileges:
        return _("none")
    named = described(privileges)
    shown = "; ".join(named[:SHOWN])
    if len(named) > SHOWN:
        more = len(named) - SHOWN
        return ngettext("%(shown)s; and %(num)s more object", "%(shown)s; and %(num)s more objects", more, shown=shown)
    return shown
