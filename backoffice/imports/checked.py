"""What checking an import found: how many rows, which are good, unchanged or rejected and why, and what the good
ones move by hand."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _

from backoffice.imports.files import Row as FileRow
from backoffice.imports.files import Table
from backoffice.imports.kinds import ImportKind

BATCH = 1000
"""Rows checked at once: their references and keys looked up in one statement each."""
CHUNK = 500
"""Rows written in one transaction."""
SHOWN_REJECTIONS = 1000
"""Rejections kept in an import's report; the rejected rows' workbook has them all."""


@dataclass(frozen=True)
class Rejection:
    line: int
    column: str | None
    """The column at fault (its name: :meth:`ImportKind.field` has its header), if one is."""
    message: str
    row: FileRow
    first_line: int | None = None
    """A key met twice: the line that had it first."""
    said: dict[str, str] = field(default_factory=dict)
    """The message in each language the pages speak (the first :data:`SHOWN_REJECTIONS` rejections)."""


@dataclass(frozen=True)
class Waiting:
    """A row the import holds for a clerk's confirmation (:attr:`ImportKind.doubtful`): its line, what it gives, and
    why it waits."""

    line: int
    values: dict
    why: dict

    def kept(self) -> dict:
        """As the import's report keeps it."""
        given = {name: None if value is None else str(value) for name, value in self.values.items()}
        return {"line": self.line, **given, "waits": self.why}


@dataclass
class Checked:
    kind: ImportKind
    table: Table
    rows: int = 0
    good: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    refused_ordinals: set[int] = field(default_factory=set)
    waiting: list[Waiting] = field(default_factory=list)
    """The good rows held for a clerk's confirmation, not written by the import."""
    waiting_ordinals: set[int] = field(default_factory=set)
    changes: list[tuple] = field(default_factory=list)
    """What the rows that update a record change of it: ``(line, key, field, stored, given)``."""
    history: int = 0
    """The rows to write dated on or before the cut-over (:attr:`ImportKind.history_of`): recorded, never charged."""
    lines: int = 0
    """Rows that are further lines of the record above them, nothing of their own kept (Odoo's and ERPNext's exports
    write a row per invoice line, the invoice's fields on its first)."""
    controls: list[FileRow] = field(default_factory=list)
    """The file's own total rows (an accountant's TOTAL at the end): compared with its rows once written, never
    imported."""
    unchanged_ordinals: bytearray = field(default_factory=bytearray)
    """1 at each ordinal of a row found unchanged (a byte a row: a million rows take 1 MB)."""
    moved: Decimal = Decimal(0)
    """What the rows to write move by hand (a kind's ``by_hand`` amounts, each counted whatever its sign)."""
    largest: Decimal = Decimal(0)
    """The most one row to write moves by hand."""
    moved_for: dict[int, Decimal] = field(default_factory=dict)
    """What the rows to write move by hand for each customer (by id)."""

    @property
    def clean(self) -> bool:
        return not self.rejected


class ChangedSinceChecked(Exception):
    """A row good when the file was checked is refused when written: the installation changed meanwhile."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(
            _(
                "Line %(line)s: %(message)s (the installation changed since the file was checked; check it again).",
                line=rejection.line,
                message=rejection.message,
            )
        )


class RefusedWhenWritten(Exception):
    """A chunk's row the service refused when it was written, for what checking cannot see (a meter's assignments
    that would overlap, say): nothing of the chunk is written."""

    def __init__(self, lines: list[int], refusal: Exception) -> None:
        super().__init__(
            _(
                "A row of lines %(first)s to %(last)s was refused when written: %(message)s",
                first=min(lines),
                last=max(lines),
                message=refusal,
            )
        )
