"""``backoffice import KIND FILE``: an installation's data brought in from a file, checked whole first."""

from __future__ import annotations

from pathlib import Path

import click
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from backoffice.cli.common import (
    CannotAsk,
    Command,
    CommandError,
    CommandUsageError,
    _admin,
    option,
    speaking,
    with_database,
)
from backoffice.imports.names import KIND_NAMES

REJECTED = 1
"""The exit status of an import with rejected rows (nothing written)."""


@click.command(
    "import",
    cls=Command,
    help=_l(
        "Import FILE (CSV or XLSX) of KIND: every row is checked first, and a file with a rejected row writes "
        "nothing (exit 1, the rows and why printed) unless --valid-only; exit 2 when the file cannot be read. "
        "'backoffice import KIND --template' prints KIND's header row."
    ),
)
@click.argument("kind", type=click.Choice(KIND_NAMES))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path), required=False)
@option("--dry-run", is_flag=True, help=_l("Check the file and say what it would write; write nothing."))
@option("--template", is_flag=True, help=_l("Print the kind's header row (CSV) and nothing else."))
@option("--user", "email", metavar="EMAIL", help=_l("The admin importing it (recorded in every row's history)."))
@option(
    "--map",
    "choices",
    metavar='"FILE COLUMN=FIELD"',
    multiple=True,
    help=_l(
        "Read the file's column into the field (its name or label; empty: not kept). Repeat for each column; the "
        "choice is remembered for the kind's next file."
    ),
)
@option(
    "--encoding",
    metavar="NAME",
    help=_l("Read a text file in this encoding (cp1252, cp1258, utf-8…) rather than the one guessed from its letters."),
)
@option(
    "--decimal",
    type=click.Choice([".", ","]),
    help=_l(
        "The file's decimal mark: '.' (1282050.00, 1,282,050.00) or ',' (1282050,00, 1.282.050,00); else as its "
        "amounts say, else as the installation writes them."
    ),
)
@option(
    "--dates",
    type=click.Choice(["dmy", "mdy", "ymd"]),
    help=_l(
        "How the file writes its dates (31/12/2026: dmy; 12/31/2026: mdy); else as its dates say, else as the "
        "installation writes them."
    ),
)
@option(
    "--update",
    "updating",
    metavar="FIELD,…",
    help=_l(
        "Fill or change these fields of the records that exist (customers: route, city, tax number, contact…; never "
        "an amount); without it a record that exists with other values is a conflict."
    ),
)
@option(
    "--valid-only",
    is_flag=True,
    help=_l("Write the valid rows alone, leaving out the rejected ones (printed, as without it), as the page offers."),
)
@speaking
@with_database
def import_file(
    kind: str,
    file: Path | None,
    dry_run: bool,
    template: bool,
    email: str | None,
    choices: tuple[str, ...],
    encoding: str | None,
    decimal: str | None,
    dates: str | None,
    updating: str | None,
    valid_only: bool,
) -> None:
    # Imported when the command runs: its help, and the commands that read no database, declare no model.
    from backoffice.imports import approval, mapping, running
    from backoffice.imports.files import Unreadable
    from backoffice.imports.kinds import KINDS
    from backoffice.imports.written import Written
    from backoffice.platform.money import shown
    from backoffice.services import approvals

    spec = KINDS[kind]
    if template:
        click.echo(";".join(spec.template()))
        return
    if file is None:
        raise CommandUsageError(_("Name the file to import, or ask for the kind's --template."))
    user = _admin(email, _("%(email)s is not an active admin.")) if email else None
    try:
        chosen = mapping.given(spec, list(choices))
        updates = _updates(spec, updating)
    except mapping.MappingError as error:
        raise CommandUsageError(str(error)) from None
    try:
        written = Written(decimal, dates)
        remembered = mapping.remembered(spec, user) | chosen
        table = running.open_table(spec, file, file.name, remembered, encoding, written, updates)
        checked = running.check(spec, table)
    except OSError as error:
        raise CannotAsk(_("%(file)s cannot be read: %(error)s", file=file, error=error.strerror)) from None
    except Unreadable as error:
        raise CannotAsk(str(error)) from None
    _say_encoding(checked.table)
    _say_columns(spec, checked.table)
    _say_written(checked.table)
    _say_checked(checked)
    _say_waiting(checked)
    _say_changes(spec, checked)
    if checked.rejected:
        for rejection in checked.rejected:
            click.echo(_rejection(spec, rejection), err=True)
        if not valid_only:
            raise click.exceptions.Exit(REJECTED)
    if approval.beyond_the_limit(spec, checked, user):
        click.echo(
            _(
                "Its rows move %(total)s by hand, beyond the approval limit of %(limit)s: it waits for a second "
                "admin's approval before it writes.",
                total=shown(checked.moved),
                limit=shown(approvals.limit()),
            )
        )
    if dry_run:
        click.echo(_("Dry run: nothing written."))
        return
    mapping.remember(spec, chosen, user)
    record = running.started(spec, file.name, file, checked, user, valid_only=valid_only, encoding=encoding)
    running.run_import(record.id)
    _say_done(record.id)


def _say_encoding(table) -> None:
    """A text file's encoding, and where it was guessed, how the file reads in each other one."""
    if not table.alternatives:
        return
    click.echo(_("Encoding guessed from the file's letters: %(encoding)s. Read in each:", encoding=table.encoding))
    for name, line in table.alternatives:
        click.echo(f"  {name}: {line}")
    click.echo(_("If it does not read right, import it again with --encoding NAME."))


def _say_columns(spec, table) -> None:
    """Each of the file's columns and the field it is read into, or that it is not kept."""
    click.echo(_("Columns (line %(line)s):", line=table.header_line))
    for header, name in table.headers:
        field = _("not kept") if name is None else f"{spec.field(name).label} ({name})"
        click.echo(f"  {header} → {field}")


def _say_written(table) -> None:
    """How the file's amounts and dates are read, where unlike the installation."""
    from backoffice.imports.values import as_written
    from backoffice.imports.written import AS_THE_INSTALLATION

    read = as_written(table.written)
    if read == as_written(AS_THE_INSTALLATION):
        return
    amounts = {".": "1,234,567.89", ",": "1.234.567,89"}[read.decimal]
    dates = {"dmy": "31/12/2026", "mdy": "12/31/2026", "ymd": "2026-12-31"}[read.dates]
    click.echo(
        _(
            "Amounts read as %(amounts)s, dates as %(dates)s (if they do not read right, import it again with "
            "--decimal and --dates).",
            amounts=amounts,
            dates=dates,
        )
    )


def _say_checked(checked) -> None:
    if checked.history:
        from backoffice.platform.i18n import named_date
        from backoffice.services import cut_over

        click.echo(
            _(
                "%(count)s rows are dated on or before the cut-over (%(date)s): recorded as history, charged nothing.",
                count=checked.history,
                date=named_date(cut_over.day()),
            )
        )
    if checked.lines:
        click.echo(
            _(
                "%(count)s rows are further lines of the invoices above them: kept as their lines, each invoice's "
                "amounts given by its first row.",
                count=checked.lines,
            )
        )
    for row in checked.controls:
        click.echo(
            _(
                "Line %(line)s is the file's total row: compared with its rows once imported, not imported.",
                line=row.line,
            )
        )
    click.echo(
        _(
            "%(file)s: %(rows)s rows: %(good)s to write, %(unchanged)s unchanged, %(rejected)s rejected.",
            file=checked.table.filename,
            rows=checked.rows,
            good=checked.good,
            unchanged=checked.unchanged,
            rejected=len(checked.rejected),
        )
    )


def _updates(spec, updating: str | None) -> tuple[str, ...]:
    """The fields ``--update`` names (by name or label), each one the kind updates."""
    from backoffice.imports import mapping

    if not updating:
        return ()
    names = tuple(mapping.field_named(spec, name) for name in updating.split(",") if name.strip())
    if refused := [name for name in names if name not in spec.updatable]:
        raise mapping.MappingError(
            _(
                "An import of %(kind)s does not change %(fields)s of what exists: it may fill or change %(allowed)s.",
                kind=spec.label,
                fields=", ".join(str(name) for name in refused),
                allowed=", ".join(spec.updatable) or "—",
            )
        )
    return names


def _say_changes(spec, checked) -> None:
    """What the import changes of the records that exist, each change a line."""
    if not checked.changes:
        return
    click.echo(_("Changes to the records that exist:"))
    for line, key, name, old, new in checked.changes:
        click.echo(
            _(
                "Line %(line)s: %(key)s, %(field)s: %(old)s → %(new)s",
                line=line,
                key=" ".join(str(part) for part in key),
                field=spec.field(name).label,
                old=old if old not in (None, "") else "—",
                new=new,
            )
        )


def _say_waiting(checked) -> None:
    """The readings the import holds for a clerk's confirmation, each by its line."""
    from backoffice.platform.i18n import named_date

    if not checked.waiting:
        return
    click.echo(
        _(
            "%(count)s readings wait for a clerk's confirmation on the import's page (Imports), as on the route "
            "sheet; the others are written:",
            count=len(checked.waiting),
        )
    )
    for held in checked.waiting:
        values = held.values
        why = _("a rollover?") if held.why["why"] == "rollover" else _("far from the usual")
        click.echo(
            _(
                "Line %(line)s: %(meter)s, %(date)s: %(why)s",
                line=held.line,
                meter=values["meter"],
                date=named_date(values["reading_date"]),
                why=why,
            )
        )


def _rejection(spec, rejection) -> str:
    if rejection.column is None:
        return _("Line %(line)s: %(message)s", line=rejection.line, message=rejection.message)
    return _(
        "Line %(line)s, %(column)s: %(message)s",
        line=rejection.line,
        column=spec.field(rejection.column).label,
        message=rejection.message,
    )


def _say_done(import_id: int) -> None:
    from backoffice.imports import said
    from backoffice.models import Import, ImportStatus
    from backoffice.platform.extensions import db

    record = db.session.get(Import, import_id)
    if record.status != ImportStatus.DONE:
        raise CommandError(said.error_said(record) or record.status)
    report = record.report
    click.echo(
        _(
            "Import #%(id)s: %(written)s rows written, %(unchanged)s unchanged.",
            id=record.id,
            written=record.rows_written,
            unchanged=record.rows_unchanged,
        )
    )
    for line in said.report_lines(report):
        click.echo(line)
