"""The kinds of job: each one's queue, time limit and run, and the arguments it is started with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, ColumnOperators, String, cast, func

from backoffice.jobs.queues import QueueUnavailable
from backoffice.models import Customer, JobRecord, RunMode, RunTrigger
from backoffice.models.types import Month
from backoffice.platform.extensions import db
from backoffice.platform.i18n import count_text
from backoffice.reconcile import Scope, resolve
from backoffice.reconcile.engine import scope_for
from backoffice.services import month_end


@dataclass(frozen=True)
class Kind:
    name: str
    label: str
    queue: str
    timeout: int
    mode: Callable[[dict], RunMode] | None
    """The mode of the reconciliation run the job makes; ``None``: a job that runs no checks."""
    exclusive: bool = False
    """At most one job of this kind with the same arguments queued or running at a time."""
    keyed_by: tuple[str, ...] | None = None
    """The arguments that make two exclusive jobs the same (``None``: all of them)."""


KINDS = {
    kind.name: kind
    for kind in (
        Kind("recalculate_customer", "Recalculate customer", "recalc", 15 * 60, lambda a: RunMode.FIX, exclusive=True),
        Kind("verify", "Verify", "recalc", 60 * 60, lambda a: RunMode.FIX if a.get("fix") else RunMode.VERIFY),
        Kind(
            "rebuild",
            "Rebuild",
            "maintenance",
            3 * 60 * 60,
            lambda a: RunMode.DRY_RUN if a.get("dry_run") else RunMode.REBUILD,
        ),
        Kind(
            "nightly_maintenance",
            "Nightly maintenance",
            "maintenance",
            3 * 60 * 60,
            lambda a: RunMode.FIX,
            exclusive=True,
        ),
        # Verifies and fixes what the nightly reads (reconcile.night), and all of a check that left a discrepancy.
        Kind("auto_heal", "Auto-heal", "recalc", 60 * 60, lambda a: RunMode.FIX, exclusive=True),
        Kind("monthly_rebuild", "Monthly rebuild", "maintenance", 6 * 60 * 60, lambda a: RunMode.REBUILD),
        Kind("tariff_change", "Tariff change", "recalc", 3 * 60 * 60, None),
        # One run of a month at a time, whatever it produces: two at once could both send a document not sent yet.
        Kind("month_end", "Month-end documents", "default", 24 * 60 * 60, None, exclusive=True, keyed_by=("month",)),
    )
}


def _validate(spec: Kind, args: dict) -> None:
    """Refuse arguments the job could not run with, before anything is queued."""
    if spec.name == "tariff_change":
        date.fromisoformat(args["effective_from"])
        return
    if spec.name == "month_end":
        Month.parse(args["month"])
        return
    resolve(args.get("checks"))
    scope_for(args.get("customers") or [], None)
    if spec.name == "recalculate_customer" and db.session.get(Customer, args.get("customer_id")) is None:
        raise LookupError(f"No customer with id {args.get('customer_id')!r}.")


IN_REQUEST_DOCUMENTS = 50
"""The most documents a month-end produces in the request that asked for it, where no Redis queues it for a worker:
about a second each, a page held longer than a minute would be abandoned or cut by a proxy."""


def _refuse_in_request(spec: Kind, args: dict) -> None:
    """Refuse (:class:`QueueUnavailable`) a job that would hold the page too long in the request that asked for it,
    which runs it where no Redis queues it for a worker."""
    if spec.name != "month_end":
        return
    count = month_end.planned(
        Month.parse(args["month"]), statements=args.get("statements", True), invoices=args.get("invoices", True)
    )
    if count > IN_REQUEST_DOCUMENTS:
        raise QueueUnavailable(
            _(
                "This month-end makes %(count)s documents: more than %(bound)s are made by a worker, not while the "
                "page waits. Set REDIS_URL and start a worker (make worker), then run it again.",
                count=count_text(count),
                bound=count_text(IN_REQUEST_DOCUMENTS),
            )
        )


def _active_key(spec: Kind, args: dict) -> str | ColumnElement[str] | None:
    """The key that holds an exclusive job's place (None: the kind is not exclusive): its kind and the arguments it is
    keyed by. Arguments that are columns of a statement make the key in SQL, as the database writes it (an integer as
    Python writes it), so that a page asks whether a job holds its place with its other questions."""
    if not spec.exclusive:
        return None
    pieces: list = [f"{spec.name}:"]
    for number, name in enumerate(sorted(spec.keyed_by or args)):
        pieces += [("," if number else "") + f"{name}=", args[name]]
    if not any(isinstance(piece, ColumnOperators) for piece in pieces):
        return "".join(str(piece) for piece in pieces)
    return func.concat(*[cast(piece, String) if isinstance(piece, ColumnOperators) else piece for piece in pieces])


def _plan(spec: Kind, args: dict) -> tuple[list[str] | None, Scope]:
    """The checks (None: all) and the scope the job runs on."""
    customers = args.get("customers") or []
    if spec.name == "recalculate_customer":
        customers = [db.session.get(Customer, args["customer_id"]).code]
    month = args.get("from_month")
    return args.get("checks") or None, scope_for(customers, Month.parse(month).first_day if month else None)


def _trigger(record: JobRecord) -> RunTrigger:
    return RunTrigger(record.args.get("trigger", RunTrigger.USER.value))
