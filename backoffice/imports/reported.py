"""An import's report, read from the database after it ran, and its preview, kept when it was checked."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from backoffice.imports.checked import SHOWN_REJECTIONS, Checked
from backoffice.imports.files import Table
from backoffice.imports.kinds import ImportKind
from backoffice.imports.rows import batches, changes_of, different
from backoffice.imports.values import Refused
from backoffice.imports.written import reading
from backoffice.models import CheckResult, Import, RunMode, RunTrigger, User
from backoffice.platform.extensions import db
from backoffice.reconcile import Scope, engine
from backoffice.reconcile.locks import RunRefused
from backoffice.services import cut_over


def _controls(kind: ImportKind, checked: Checked, file_totals: dict) -> list[dict]:
    """Each total row of the file against the sum of the rows it totals, column by column (the control totals'
    columns it fills in)."""
    found = []
    for row in checked.controls:
        with reading(checked.table.written):
            for spec in kind.fields:
                cell = row.values.get(spec.name)
                if not spec.total or cell in (None, ""):
                    continue
                try:
                    stated = spec.read(cell)
                except Refused as refusal:
                    found.append({"line": row.line, "column": spec.name, "unread": str(refusal)})
                    continue
                summed = file_totals.get(spec.name, Decimal(0))
                found.append({"line": row.line, "column": spec.name, "file": str(stated), "rows": str(summed)})
    return found


# The report: what the file holds against what backoffice holds now, the figures it states, and a verify.


def report(record: Import, checked: Checked, user: User | None) -> dict:
    """The import's report, read from the database after it ran: each figure of the old system the file states
    (what an invoice still asks, a customer's balance, a meter's amount due) against what backoffice now holds, the
    whole file's and every difference, none left out; each row of the file that could be read looked up by its key
    (found with the file's values, or not), its control totals summed from what is stored, the same by customer
    (else by the meter or record a row names), and a verify of the customers the file touches."""
    kind = checked.kind
    found, file_totals, stored_totals, differences, stated_count, differing = 0, {}, {}, [], 0, 0
    outcome: dict[str, dict] = {}
    compared: set[tuple[str, str]] = set()
    customer_ids: set[int] = set()
    by: dict[str, dict] = {}
    for batch in batches(kind, checked.table, Checked(kind, checked.table)):
        entries = [
            entry
            for entry in batch.read
            if entry[0] not in checked.refused_ordinals and entry[0] not in checked.waiting_ordinals
        ]
        records = [record for _ordinal, _row, record in entries]
        (kind.identify or kind.refers)(records)
        stored = kind.stored(records)
        present = []
        for record_ in records:
            figures = _figures(by, _named_by(record_))
            figures["rows"] += 1
            match = stored.get(kind.key_of(record_))
            both = match is not None and not different(kind, record_, match)
            for spec in kind.fields:
                if not spec.total or record_.get(spec.name) is None:
                    continue
                given, kept_ = record_[spec.name], (match.get(spec.name) or Decimal(0)) if both else Decimal(0)
                file_totals[spec.name] = file_totals.get(spec.name, Decimal(0)) + given
                stored_totals[spec.name] = stored_totals.get(spec.name, Decimal(0)) + kept_
                sums = figures["totals"].setdefault(spec.name, {"file": Decimal(0), "stored": Decimal(0)})
                sums["file"] += given
                sums["stored"] += kept_
            if both:
                found += 1
                figures["found"] += 1
                present.append(record_)
        customer_ids |= kind.customers(present) if present else set()
        for stated in kind.stated:
            given = {r[stated.by]: r[stated.field.name] for r in present if r.get(stated.field.name) is not None}
            derived = stated.derived(sorted(given)) if given else {}
            stated_count += len(given)
            column = stated.field.name
            sums = outcome.setdefault(
                column, {"by": stated.by, "file": Decimal(0), "derived": Decimal(0), "compared": 0, "different": 0}
            )
            for name, value in sorted(given.items()):
                if (column, name) in compared:  # a meter's figure, stated on each of its rows
                    continue
                compared.add((column, name))
                sums["compared"] += 1
                sums["file"] += value
                sums["derived"] += derived.get(name) or Decimal(0)
                if derived.get(name) != value:
                    differing += 1
                    sums["different"] += 1
                    derived_figure = str(derived[name]) if name in derived else None
                    differences.append({"name": name, "column": column, "file": str(value), "derived": derived_figure})
    for rejection in checked.rejected:
        _figures(by, _named_by(rejection.row.values, raw=True))["rejected"] += 1
    expected = checked.rows - len(checked.rejected) - len(checked.waiting)
    return {
        "kind": kind.name,
        "file": {"name": record.filename, "sha256": record.sha256, "size": record.size_bytes},
        "rows": {
            "in_file": checked.rows,
            "rejected": len(checked.rejected),
            "expected": expected,
            "found": found,
            "written": record.rows_written,
            "unchanged": record.rows_unchanged,
        },
        "totals": {
            spec.name: {"file": str(file_totals.get(spec.name, 0)), "stored": str(stored_totals.get(spec.name, 0))}
            for spec in kind.fields
            if spec.total and spec.name in file_totals
        },
        "stated": {
            "compared": stated_count,
            "different": differing,
            "figures": [
                {
                    "column": column,
                    **{name: str(value) if isinstance(value, Decimal) else value for name, value in sums.items()},
                }
                for column, sums in outcome.items()
                if sums["compared"]
            ],
            "differences": differences,
        },
        "by": {
            name: {
                **{count: figures[count] for count in ("rows", "found", "rejected")},
                "totals": {
                    column: {side: str(value) for side, value in sums.items()}
                    for column, sums in figures["totals"].items()
                },
            }
            for name, figures in sorted(by.items())[:SHOWN_BY]
            if name
        },
        "waiting": [waiting.kept() for waiting in checked.waiting],
        "controls": _controls(kind, checked, file_totals),
        "changes": changes_of(checked),
        "verify": _verify(sorted(customer_ids), user),
        "rejected": [
            {"line": r.line, "column": r.column, "message": r.message} for r in checked.rejected[:SHOWN_REJECTIONS]
        ],
    }


SHOWN_BY = 100_000
"""The customers (or meters, or records) the report gives figures of, the first by name."""

NAMED_BY = ("customer", "holder", "code", "meter", "serial", "email", "number")
"""What a row's figures are reported under: its customer, else its meter's holder, else the record it names."""


def _named_by(values: dict, raw: bool = False) -> str:
    """The customer (else meter, else record) a row's figures are reported under; a file's cell, read raw, as the
    kind reads a code."""
    for name in NAMED_BY:
        if values.get(name):
            text = str(values[name]).strip()
            return text.upper() if raw and name in ("customer", "code", "meter", "serial") else text
    return ""


def _figures(by: dict[str, dict], name: str) -> dict:
    return by.setdefault(name, {"rows": 0, "found": 0, "rejected": 0, "totals": {}})


def _verify(customer_ids: list[int], user: User | None) -> dict | None:
    """A verify of the customers the import touched, however many (its work grows with them, not with the
    installation): what it found (a run anyone can open), or why it did not run."""
    if not customer_ids:
        return None
    try:
        run = engine.run(
            RunMode.VERIFY,
            scope=Scope(customer_ids=tuple(customer_ids)),
            trigger=RunTrigger.USER if user else RunTrigger.CLI,
            user=user,
        )
    except RunRefused as refusal:
        return {"refused": str(refusal)}
    results = db.session.scalars(select(CheckResult).where(CheckResult.run_id == run.id)).all()
    return {
        "run_id": run.id,
        "status": str(run.status),
        "customers": len(customer_ids),
        "checked": sum(result.checked for result in results),
        "mismatched": sum(result.mismatched for result in results),
    }


def preview(checked: Checked) -> dict:
    """What checking found, kept with the import: its counts, each column and the field it is read into, and its
    first rejections."""
    return {
        **columns_of(checked.table),
        "rows": checked.rows,
        "good": checked.good,
        "unchanged": checked.unchanged,
        "rejected": len(checked.rejected),
        "waiting": [waiting.kept() for waiting in checked.waiting],
        "controls": [row.line for row in checked.controls],
        "lines": checked.lines,
        "history": checked.history,
        "cut_over": None if not checked.history else cut_over.day().isoformat(),
        "changes": changes_of(checked)[:SHOWN_REJECTIONS],
        "rejections": [
            {"line": r.line, "column": r.column, "message": r.message, "said": r.said}
            for r in checked.rejected[:SHOWN_REJECTIONS]
        ],
    }


def columns_of(table: Table) -> dict:
    """How the file was read: each column and its field, and its encoding with its alternatives where guessed."""
    return {
        "columns": [[header, field] for header, field in table.headers],
        "encoding": table.encoding,
        "alternatives": [list(alternative) for alternative in table.alternatives],
    }
