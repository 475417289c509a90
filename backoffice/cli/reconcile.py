"""``backoffice reconcile``: verifying, fixing and rebuilding the derived fields."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import nullcontext
from decimal import Decimal

import click
from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from rich.table import Table

from backoffice.cli.common import CommandError, CommandUsageError, Group, _console, option
from backoffice.platform.extensions import db
from backoffice.platform.money import MoneyError, read_amount
from backoffice.platform.words import word


@click.group(cls=Group, help=_l("Verify, fix and rebuild the derived fields."))
def reconcile() -> None:
    pass


@reconcile.command("checks", database=False, help=_l("List the registered checks."))
def reconcile_checks() -> None:
    # Imported when the command runs: the checks declare the models, which a help does without.
    from backoffice.reconcile import CHECKS

    table = Table(_("check"), "", _("entity"), _("fixable"), _("description"), box=None)
    for check in CHECKS.values():
        fixable = _("yes") if check.fixable else _("report only")
        table.add_row(check.name, str(check.label), check.entity_type, fixable, str(check.description))
    _console().print(table)


def _scope_options(command):
    command = option("--check", "checks", multiple=True, metavar="NAME", help=_l("Only this check (repeatable)."))(
        command
    )
    command = option(
        "--customer", "customers", multiple=True, metavar="CODE", help=_l("Only this customer (repeatable).")
    )(command)
    command = option("--from-month", metavar="YYYY-MM", help=_l("Only from this month on."))(command)
    command = option("--json", "as_json", is_flag=True, help=_l("Print one JSON document, nothing else."))(command)
    return command


@reconcile.command("verify", help=_l("Compare every derived field in scope with its source of truth."))
@_scope_options
@option("--fix", is_flag=True, help=_l("Write the expected values where they differ."))
@option("--threshold", metavar="AMOUNT", help=_l("Mark discrepancies larger than this as significant."))
@option(
    "--csv",
    "csv_path",
    type=click.Path(dir_okay=False, writable=True),
    help=_l("Write every discrepancy to this CSV file."),
)
def reconcile_verify(checks, customers, from_month, as_json, fix, threshold, csv_path) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import RunMode

    _reconcile(RunMode.FIX if fix else RunMode.VERIFY, checks, customers, from_month, as_json, threshold, csv_path)


@reconcile.command("rebuild", help=_l("Recompute every derived field in scope (emergency recovery, after imports)."))
@_scope_options
@option("--dry-run", is_flag=True, help=_l("Show what would change; write nothing but the run record."))
@option("--threshold", metavar="AMOUNT", help=_l("Mark changes larger than this as significant."))
def reconcile_rebuild(checks, customers, from_month, as_json, dry_run, threshold) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models import RunMode

    mode = RunMode.DRY_RUN if dry_run else RunMode.REBUILD
    _reconcile(mode, checks, customers, from_month, as_json, threshold, None)


def _reconcile(mode, checks, customers, from_month, as_json, threshold, csv_path) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.evidence.seals import WrongSealKey
    from backoffice.jobs.running import said_finished
    from backoffice.models import RunTrigger
    from backoffice.platform import logs
    from backoffice.reconcile import UnknownCheck, resolve
    from backoffice.reconcile.engine import UnknownCustomer, run, scope_for
    from backoffice.reconcile.locks import RunRefused
    from backoffice.reconcile.report import csv_lines, summary

    try:
        resolve(checks)
        month = _month_option(from_month) if from_month else None
        limit = read_amount(threshold) if threshold is not None else None
        scope = scope_for(customers, month)
    except (UnknownCheck, UnknownCustomer, MoneyError) as error:
        raise CommandUsageError(str(error)) from None

    # The run's log lines are written as a worker writes a job's (BACKOFFICE_LOG_FORMAT), its summary line last.
    logs.configure(current_app.config["LOG_LEVEL"], current_app.config["LOG_FORMAT"])
    console = _console()
    show_progress = console.is_terminal and not as_json
    # Opened before the run: a path that cannot be written is a mistake to correct, not a run to record.
    with _open_csv(csv_path) if csv_path else nullcontext() as report:
        done = _recalculations_first(scope) if mode.writes else 0
        try:
            with _progress(console, show_progress) as progress:
                record = run(mode, checks=checks, scope=scope, trigger=RunTrigger.CLI, progress=progress)
        except (RunRefused, WrongSealKey) as refused:
            raise CommandError(str(refused)) from None
        if report:
            report.writelines(csv_lines(record.id))
    held = _quarantined_waiting(scope) if mode.writes else []
    ran = summary(record, limit=None if as_json else 0) | {"recalculations_done": done}
    if as_json:
        click.echo(json.dumps(ran | {"recalculations_quarantined": held}))
    else:
        if done:
            console.print(_("%(done)s pending recalculation request(s) done first.", done=done))
        if held:
            console.print(
                _("Recalculations left waiting for quarantined customer(s): %(customers)s.", customers=", ".join(held))
            )
        print_run(console, record, limit)
    said_finished(ran | {"left_quarantined": held}, logging.getLogger("backoffice.reconcile"))
    sys.exit(1 if record.left else 0)


def _recalculations_first(scope) -> int:
    """What writes first does the pending recalculation requests of its scope, as the jobs do (a verify, which only
    reads, imports none of it)."""
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.metering import process_recalculations

    return process_recalculations(list(scope.customer_ids) or None)


def _quarantined_waiting(scope) -> list[str]:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.services.metering import left_quarantined

    return left_quarantined(list(scope.customer_ids) or None)


def _month_option(text: str):
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.models.types import parse_month

    try:
        return parse_month(text)
    except ValueError:
        raise CommandUsageError(
            _("--from-month must be YYYY-MM (at most 9999-11), not %(text)s.", text=repr(text))
        ) from None


def _open_csv(path: str):
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as error:
        raise CommandUsageError(
            _("Cannot write the CSV to %(path)s: %(reason)s.", path=path, reason=error.strerror)
        ) from None


class _progress:
    """A progress bar per check on a terminal; nothing otherwise (--json, cron, pipes)."""

    def __init__(self, console, enabled: bool) -> None:
        self.console, self.enabled, self.tasks = console, enabled, {}

    def __enter__(self):
        if not self.enabled:
            return None
        # Only on a terminal: Rich's progress bars would weigh on every command's start-up.
        from rich.progress import Progress

        self.bar = Progress(console=self.console, transient=True)
        self.bar.start()
        return self.update

    def update(self, check: str, done: int, total: int) -> None:
        if check not in self.tasks:
            self.tasks[check] = self.bar.add_task(check, total=total)
        self.bar.update(self.tasks[check], completed=done)

    def __exit__(self, *exc) -> None:
        if self.enabled:
            self.bar.stop()


def print_run(console, record, threshold: Decimal | None, limit: int = 20) -> None:
    """The run: each check's counts, its largest discrepancies (``*`` above ``threshold``) and their reasons, and the
    totals before and after (``db restore-check`` prints the run it made this way too)."""
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from sqlalchemy import func, select

    from backoffice.reconcile import label
    from backoffice.reconcile.engine import discrepancies
    from backoffice.reconcile.report import entity_of, name_of, named_entities, plain, postpaid_standing, scope_text
    from backoffice.reconcile.wording import reason_said

    said = (_("Run %(id)s", id=record.id), word(record.mode), scope_text(record.scope), word(record.status))
    console.print(" · ".join(said))
    counts = Table(_("check"), "", _("checked"), _("mismatched"), _("fixed"), box=None)
    for result in record.results:
        style = "red" if result.left else "green"
        counts.add_row(
            label(result.check),
            f"[dim]{result.check}[/]",
            str(result.checked),
            f"[{style}]{result.mismatched}[/]",
            str(result.fixed),
        )
    console.print(counts)
    if standing := postpaid_standing(record):
        console.print(standing.describe(record.mode.writes))
    for result in record.results:
        found = db.session.scalars(discrepancies(record.id, result.check).limit(limit)).all()
        if not found:
            continue
        every = discrepancies(record.id, result.check).order_by(None).subquery()
        title = _(
            "%(check)s: largest discrepancies (%(shown)s of %(mismatched)s)",
            check=f"{label(result.check)} ({result.check})",
            shown=len(found),
            mismatched=db.session.scalar(select(func.count()).select_from(every)),
        )
        if threshold is not None:
            title = _("%(title)s, * above %(threshold)s", title=title, threshold=plain(threshold))
        rows = Table(
            "", _("entity"), _("field"), _("stored"), _("expected"), _("difference"), _("fixed"), title=title, box=None
        )
        for column in rows.columns[3:6]:
            column.justify, column.no_wrap, column.overflow = "right", True, "fold"
        named = named_entities({entity_of(d) for d in found})
        for d in found:
            significant = "*" if threshold is not None and abs(d.difference) > threshold else ""
            kind = f"{d.entity_type} {d.entity_id}"
            named_as = name_of(d, named)
            name = f"{named_as.name} · {kind}" if named_as.key else kind
            rows.add_row(
                significant,
                name + (f" {d.period}" if d.period else ""),
                d.field,
                plain(d.stored) or "-",
                plain(d.expected) or "-",
                plain(d.difference),
                _("yes") if d.fixed else _("no"),
            )
        console.print(rows)
        for reason in dict.fromkeys(d.reason for d in found if d.reason):
            console.print(f"{result.check}: {reason_said(reason)}")
    with_totals = [r for r in record.results if r.mismatched and r.totals]
    if with_totals:
        after = _("after") if record.mode.writes else _("would be")
        totals = Table(_("check"), _("field"), _("before"), after, box=None, title=_("Totals"))
        for column in totals.columns[2:]:
            column.justify, column.no_wrap = "right", True
        for result in with_totals:
            for field, values in result.totals.items():
                totals.add_row(result.check, field, values["before"], values["after"])
        console.print(totals)
