"""The database bound to an app, and everything that runs without being called: each listener, in one list.

A listener runs when the database is touched, not because a line of code calls it: a connection opened, a
transaction begun, a flush, a commit, an error. So that a reader finds all of them, they are registered here and
nowhere else, by :func:`bind` (``create_app``, and each ``backoffice`` command when it runs: a command's help, its
settings' errors and the list of the checks are had without the models, the third of a second their declaring and
configuring take). Each row says what it keeps true; docs/developers.md lists them too.
"""

from __future__ import annotations

from typing import NamedTuple

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, configure_mappers
from sqlalchemy_continuum.version import VersionClassBase

from backoffice.evidence import sealing
from backoffice.models import ApprovalRequest, BalanceTransaction, Invoice, Payment
from backoffice.models.history import versions_written
from backoffice.platform import databases, extensions, replica, switchover
from backoffice.platform.extensions import db
from backoffice.posting import closed_months
from backoffice.services import orm_hooks


class Listener(NamedTuple):
    target: object
    event: str
    function: object
    does: str
    options: dict = {}


LISTENERS = (
    Listener(Engine, "connect", extensions.psycopg_connect, "PostgreSQL: results streamed by server-side cursors"),
    Listener(Engine, "handle_error", switchover.drop_the_pool, "a server lost or not the primary: the pool let go"),
    Listener(Engine, "handle_error", closed_months.refused_by_the_database, "a closed month refused: PeriodClosed"),
    Listener(Engine, "handle_error", replica.lost, "a replica that lost a read is not read until asked again"),
    Listener(Session, "before_flush", orm_hooks.before_flush, "an order's grand total; the keys deleted rows touch"),
    Listener(
        Session, "after_flush", orm_hooks.after_flush, "targets' achieved amounts and managers' months recomputed"
    ),
    Listener(
        Session, "after_flush_postexec", orm_hooks.expire_recomputed, "what the database recomputed is read again"
    ),
    *(
        Listener(model, name, orm_hooks.refuse_money_write, "money is written by the posting core only")
        for model in (BalanceTransaction, Invoice, Payment)
        for name in ("before_insert", "before_update", "before_delete")
    ),
    Listener(ApprovalRequest, "after_insert", sealing.request_asked, "a request is sealed as it is asked"),
    Listener(ApprovalRequest, "after_update", sealing.request_decided, "a first approval or decision is sealed"),
    Listener(
        VersionClassBase,
        "after_insert",
        sealing.version_inserted,
        "a history version is sealed",
        {"propagate": True},
    ),
    Listener(Session, "after_transaction_create", sealing.savepoint_begun, "what a savepoint registers is marked"),
    Listener(Session, "after_rollback", sealing.rolled_back, "what a rolled-back transaction registered is forgotten"),
    Listener(Session, "after_transaction_end", sealing.transaction_ended, "a savepoint's marks are let go"),
    Listener(Session, "before_commit", sealing.seal_pending, "what the transaction wrote is sealed, and only that"),
)
"""Every listener, in the order it is registered (the order they run in for one event)."""


def bind(app: Flask) -> None:
    """Bind the database to ``app`` and register the listeners (both idempotent)."""
    if "sqlalchemy" in app.extensions:
        return
    configure_mappers()  # SQLAlchemy-Continuum declares the history tables then
    register()
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            databases.insert_many_as_one(engine)


def register() -> None:
    """Register every listener of :data:`LISTENERS` not registered yet, and the history's signal for versions written
    by hand (sealed with them)."""
    for listener in LISTENERS:
        if not event.contains(listener.target, listener.event, listener.function):
            event.listen(listener.target, listener.event, listener.function, **listener.options)
    versions_written.connect(sealing.versions_written_by_hand)
