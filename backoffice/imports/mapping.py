"""Which field each of a file's columns is read into: chosen on the preview (or ``--map`` on the command),
remembered per kind with whoever chose it, offered to that user's next file with the same headers (an admin's or the
command's choice to everyone's), and kept with the import so that its check and its write read the file as its
preview showed it: a choice remembered later never changes a file already checked."""

from __future__ import annotations

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import or_, select
from sqlalchemy.dialects.postgresql import distinct_on, insert

from backoffice.imports.files import Table, folded
from backoffice.imports.kinds import ImportKind
from backoffice.models import ImportColumn, User
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.platform.i18n import LANGUAGES
from backoffice.platform.roles import Role

Mapping = dict[str, str | None]
"""A header, as the file writes it, to the field it is read into (None: not kept)."""

NOT_KEPT = ("", "-")
"""What ``--map "Column="`` or ``--map "Column=-"`` writes for a column not kept."""


class MappingError(ValueError):
    """A mapping that names no field of the kind; ``str()`` says so in the reader's language."""


def remembered(kind: ImportKind, user: User | None = None) -> Mapping:
    """The headers mapped for the kind before, as ``user`` is offered them: their own choice, else the latest of an
    admin's or the command's; another clerk's choice is theirs alone."""
    own = ImportColumn.chosen_by_id == (user.id if user else None)
    house = or_(ImportColumn.chosen_by_id.is_(None), User.role == Role.ADMIN)
    query = (
        select(ImportColumn.header, ImportColumn.field)
        .outerjoin(User, User.id == ImportColumn.chosen_by_id)
        .where(ImportColumn.kind == kind.name, or_(own, house) if user else house)
        .ext(distinct_on(ImportColumn.header))
        .order_by(ImportColumn.header, own.desc(), ImportColumn.chosen_at.desc())
    )
    return dict(db.session.execute(query).all())


def given(kind: ImportKind, choices: list[str]) -> Mapping:
    """The mapping ``--map`` gives: each ``File column=field``, the field by its name or its label in any language,
    none for a column not kept."""
    mapping: Mapping = {}
    for choice in choices:
        header, equals, name = choice.partition("=")
        if not equals or not header.strip():
            raise MappingError(_('%(choice)s is not a mapping: write it as "File column=field".', choice=choice))
        mapping[header.strip()] = field_named(kind, name)
    return mapping


def field_named(kind: ImportKind, name: str) -> str | None:
    """The field of the kind ``name`` says (its name, or its label in any language); None for not kept."""
    if name.strip() in NOT_KEPT:
        return None
    wanted = folded(name)
    for field in fields(kind):
        if wanted in {folded(field.name), *(folded(label) for label in _labels(field))}:
            return field.name
    raise MappingError(
        _(
            "%(kind)s has no field %(name)s: choose one of %(fields)s, or leave it empty for a column not kept.",
            kind=kind.label,
            name=name.strip(),
            fields=", ".join(f"{field.name} ({field.label})" for field in fields(kind)),
        )
    )


def fields(kind: ImportKind) -> list:
    """The fields a column may be read into."""
    return [*kind.fields, *(stated.field for stated in kind.stated)]


def _labels(field) -> set[str]:
    found = set()
    for language in LANGUAGES:
        with force_locale(language):
            found.add(str(field.label))
    return found


def used(table: Table) -> Mapping:
    """How the table read its header: each cell to its field or none."""
    return dict(table.headers)


def remember(kind: ImportKind, mapping: Mapping, user: User | None) -> None:
    """Keep the user's choices for the kind's next file they import (an admin's, or the command's, for everyone's),
    within the caller's unit of work."""
    if not mapping:
        return
    rows = [
        {
            "kind": kind.name,
            "header": header[:255],
            "field": field,
            "chosen_by_id": user.id if user else None,
            "chosen_at": utcnow(),
        }
        for header, field in mapping.items()
    ]
    statement = insert(ImportColumn).values(rows)
    db.session.execute(
        statement.on_conflict_do_update(
            index_elements=[ImportColumn.kind, ImportColumn.header, ImportColumn.chosen_by_id],
            set_={name: statement.excluded[name] for name in ("field", "chosen_by_id", "chosen_at")},
        )
    )
