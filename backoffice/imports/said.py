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
    lines = [
        _(
            "Rows in the file: %(in_file)s, rejected: %(rejected)s; in backoffice with the file's values: %(found)s "
            "of %(expected)s.",
            **{name: rows[name] for name in ("in_file", "rejected", "found", "expected")},
        )
    ]
    lines.append(
        _(
            "Written by this import: %(written)s; in backoffice before it, as the file has them: %(unchanged)s.",
            written=rows["written"],
            unchanged=rows["unchanged"],
        )
    )
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
        lines.append(
            _(
                "Figures of the system before compared: %(compared)s; different: %(different)s.",
                compared=stated["compared"],
                different=stated.get("different", len(stated["differences"])),
            )
        )
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
