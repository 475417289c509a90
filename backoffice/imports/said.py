"""What an import says, in the reader's language, a sentence a line: what checking found, its report, why it
stopped."""

from __future__ import annotations

from decimal import Decimal

from flask_babel import gettext as _

from backoffice.imports.files import Unreadable
from backoffice.imports.kinds import KINDS, ImportKind
from backoffice.models import Import, ImportStatus
from backoffice.platform.i18n import language, number_locale
from backoffice.platform.money import format_plain


def kind_of(name: str) -> ImportKind:
    try:
        return KINDS[name]
    except KeyError:
        raise Unreadable(
            _("%(kind)s is not a kind of import: choose one of %(kinds)s.", kind=repr(name), kinds=", ".join(KINDS))
        ) from None


def missing_said(kind: ImportKind, preview: dict | None) -> str | None:
    """Which required fields no column of the file is read into, in the reader's language; None if every one is."""
    names = (preview or {}).get("missing")
    if not names:
        return None
    return _(
        "No column of the file is read into %(fields)s: choose one for it below, then check the file again.",
        fields=", ".join(str(kind.field(name).label) for name in names),
    )


def said(rejection: dict) -> str:
    """A rejection kept with an import, in the reader's language."""
    return (rejection.get("said") or {}).get(language()) or rejection["message"]


STOPPED = "worker stopped"
"""What a stopped import's error says, in every language's words on its page (see :func:`error_said`)."""


def error_said(record: Import) -> str | None:
    """Why the import stopped, in the reader's language."""
    if record.error == STOPPED:
        return _("The worker running it stopped. Import it again: it goes on from the last chunk it wrote.")
    if record.status == ImportStatus.WAITING and record.error and record.error.startswith("waiting:"):
        return _(
            "Its rows move money by hand beyond the approval limit: it waits for a second admin's approval "
            "(request #%(id)s on Approvals), which starts it. Nothing is written until then.",
            id=record.error.removeprefix("waiting:"),
        )
    return record.error


def report_lines(report: dict) -> list[str]:
    """The report, a sentence a line, in the reader's language: what the command prints."""
    kind = kind_of(report["kind"])
    rows = report["rows"]
    lines = outcome_lines(report)
    lines.append(
        _(
            "Rows in the file: %(in_file)s, rejected: %(rejected)s; in backoffice with the file's values: %(found)s "
            "of %(expected)s.",
            **{name: rows[name] for name in ("in_file", "rejected", "found", "expected")},
        )
    )
    lines.append(
        _(
            "Written by this import: %(written)s; in backoffice before it, as the file has them: %(unchanged)s.",
            written=rows["written"],
            unchanged=rows["unchanged"],
        )
    )
    for control in report.get("controls", []):
        lines.append(_control_said(kind, control))
    for name, sums in report["totals"].items():
        lines.append(
            _(
                "%(column)s: %(file)s in the file, %(stored)s in backoffice.",
                column=kind.field(name).label,
                file=shown_amount(sums["file"]),
                stored=shown_amount(sums["stored"]),
            )
        )
    stated = report["stated"]
    if stated["compared"]:
        lines += [
            _(
                "%(name)s, %(column)s: %(file)s in the file, %(derived)s in backoffice.",
                name=difference["name"],
                column=kind.field(difference["column"]).label,
                file=shown_amount(difference["file"]),
                derived=shown_amount(difference["derived"]),
            )
            for difference in stated["differences"]
        ]
    verify = report["verify"]
    if verify and "refused" in verify:
        lines.append(_("The verify did not run: %(why)s", why=verify["refused"]))
    elif verify:
        lines.append(
            _(
                "Verify of %(customers)s customers (run #%(run)s): %(mismatched)s discrepancies.",
                customers=verify["customers"],
                run=verify["run_id"],
                mismatched=verify["mismatched"],
            )
        )
    return lines


def _control_said(kind: ImportKind, control: dict) -> str:
    """A total row of the file against the sum of its rows."""
    column = kind.field(control["column"]).label
    if "unread" in control:
        return _(
            "The file's total row (line %(line)s), %(column)s: %(why)s",
            line=control["line"],
            column=column,
            why=control["unread"],
        )
    if Decimal(control["file"]) == Decimal(control["rows"]):
        return _(
            "The file's total row (line %(line)s), %(column)s: %(file)s, the sum of its rows: agrees.",
            line=control["line"],
            column=column,
            file=shown_amount(control["file"]),
        )
    return _(
        "The file's total row (line %(line)s), %(column)s: %(file)s, but its rows sum to %(rows)s: differs by "
        "%(difference)s.",
        line=control["line"],
        column=column,
        file=shown_amount(control["file"]),
        rows=shown_amount(control["rows"]),
        difference=shown_amount(str(Decimal(control["rows"]) - Decimal(control["file"]))),
    )


def outcome_lines(report: dict) -> list[str]:
    """What the report leads with: each figure of the old system the file states, the whole file's, against what
    backoffice now holds, and whether they agree; or that the file states none, so that only its reading is
    proven."""
    kind = kind_of(report["kind"])
    figures = report["stated"].get("figures", [])
    if not figures:
        if not kind.stated:
            return []
        return [
            _(
                "The file states none of the old system's figures (%(figures)s): only how it was read is proven, not "
                "that backoffice now holds what the old system did.",
                figures=", ".join(str(stated.field.label) for stated in kind.stated),
            )
        ]
    lines = []
    for sums in figures:
        said_of = {
            "column": kind.field(sums["column"]).label,
            "by": kind.field(sums["by"]).label,
            "file": shown_amount(sums["file"]),
            "derived": shown_amount(sums["derived"]),
            "compared": sums["compared"],
        }
        if sums["different"]:
            lines.append(
                _(
                    "Against the old system, %(column)s by %(by)s: %(file)s in the file, %(derived)s in backoffice: "
                    "differs by %(difference)s in %(different)s of %(compared)s.",
                    difference=shown_amount(str(Decimal(sums["derived"]) - Decimal(sums["file"]))),
                    different=sums["different"],
                    **said_of,
                )
            )
        else:
            lines.append(
                _(
                    "Against the old system, %(column)s by %(by)s: %(file)s in the file, %(derived)s in backoffice: "
                    "agrees, all %(compared)s.",
                    **said_of,
                )
            )
    return lines


def report_table(report: dict) -> tuple[list[str], list[list]]:
    """The report as a table of figures, its header and its rows: each figure of the whole file, then of each
    customer (else meter, else record), as the file has it, as backoffice holds it, and the difference; numbers as
    numbers, so that a spreadsheet sums and filters them."""
    kind = kind_of(report["kind"])
    rows = report["rows"]
    header = [_("Figure"), _("Customer, meter or record"), _("In the file"), _("In backoffice"), _("Difference")]
    table: list[list] = [
        [
            _(
                "Against the old system: %(column)s by %(by)s",
                column=kind.field(sums["column"]).label,
                by=kind.field(sums["by"]).label,
            ),
            "",
            *_compared(sums["file"], sums["derived"]),
        ]
        for sums in report["stated"].get("figures", [])
    ]
    table += [
        [_("Rows read"), "", rows["in_file"], None, None],
        [_("Rows rejected"), "", rows["rejected"], None, None],
        [_("Rows written by this import"), "", None, rows["written"], None],
        [_("Rows in backoffice before it, as the file has them"), "", None, rows["unchanged"], None],
        [
            _("Rows in backoffice with the file's values"),
            "",
            rows["expected"],
            rows["found"],
            rows["found"] - rows["expected"],
        ],
    ]
    for control in report.get("controls", []):
        if "unread" not in control:
            label = _("The file's total row (line %(line)s)", line=control["line"])
            table.append(
                [f"{label}: {kind.field(control['column']).label}", "", *_compared(control["file"], control["rows"])]
            )
    for name, sums in report["totals"].items():
        table.append([str(kind.field(name).label), "", *_compared(sums["file"], sums["stored"])])
    for difference in report["stated"]["differences"]:
        label = str(kind.field(difference["column"]).label)
        table.append([label, difference["name"], *_compared(difference["file"], difference["derived"])])
    verify = report.get("verify") or {}
    if "mismatched" in verify:
        table.append([_("Discrepancies the verify found"), "", None, verify["mismatched"], None])
    for name, figures in report.get("by", {}).items():
        table.append([_("Rows read"), name, figures["rows"] + figures["rejected"], None, None])
        table.append([_("Rows rejected"), name, figures["rejected"], None, None])
        table.append(
            [
                _("Rows in backoffice with the file's values"),
                name,
                figures["rows"],
                figures["found"],
                figures["found"] - figures["rows"],
            ]
        )
        for column, sums in figures["totals"].items():
            table.append([str(kind.field(column).label), name, *_compared(sums["file"], sums["stored"])])
    return header, table


def _compared(file: str | None, stored: str | None) -> list:
    """A figure as the file states it, as backoffice holds it, and their difference (backoffice's less the file's)."""
    given = None if file in (None, "None") else Decimal(file)
    kept = None if stored in (None, "None") else Decimal(stored)
    return [given, kept, None if given is None or kept is None else kept - given]


def shown_amount(written: str | None) -> str:
    """An amount of the report as the reader's country writes it."""
    if written in (None, "None"):
        return "—"
    return format_plain(Decimal(written), number_locale())


def preview_lines(record: Import) -> list[str]:
    """What checking the file found, a sentence a line: its counts, then each rejected row (the first ones)."""
    kind = kind_of(record.kind)
    preview = (record.report or {}).get("preview") or {}
    lines = [
        _(
            "%(rows)s rows: %(good)s to write, %(unchanged)s already in backoffice as the file has them, "
            "%(rejected)s rejected.",
            **{name: preview.get(name, 0) for name in ("rows", "good", "unchanged", "rejected")},
        )
    ]
    for rejection in preview.get("rejections", []):
        if rejection["column"]:
            lines.append(
                _(
                    "Line %(line)s, %(column)s: %(message)s",
                    line=rejection["line"],
                    column=kind.field(rejection["column"]).label,
                    message=said(rejection),
                )
            )
        else:
            lines.append(_("Line %(line)s: %(message)s", line=rejection["line"], message=said(rejection)))
    return lines
