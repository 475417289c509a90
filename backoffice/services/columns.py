"""What a person chose to see of a list: the columns they show or hide, kept for them (``list_columns``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert

from backoffice.models import ListColumns
from backoffice.platform.extensions import db
from backoffice.services import transaction

NAME = re.compile(r"[a-z][a-z0-9_-]{0,39}")
"""A column's name, as a list's page names it (``value_date``, ``by``)."""
MOST_COLUMNS = 40
"""The most columns a choice names: no list has as many."""


class ColumnsRefused(ValueError):
    """A choice of columns that cannot be kept as sent; nothing was written."""


def chosen_columns(user_id: int) -> dict[str, dict[str, bool]]:
    """Every list the person chose columns for, by the list's name: each column they chose, shown or hidden."""
    rows = db.session.execute(
        select(ListColumns.list_name, ListColumns.columns).where(ListColumns.user_id == user_id)
    ).all()
    return {name: columns for name, columns in rows}


def choose_columns(user_id: int, list_name: str, shown: Sequence[str], hidden: Sequence[str]) -> None:
    """Keep the person's choice of a list's columns: those they show and those they hide whatever the width. None of
    either: the list's usual columns again (the choice is forgotten)."""
    both = sorted(set(shown) & set(hidden))
    if both:
        raise ColumnsRefused(_("A column is either shown or hidden, not both: %(names)s.", names=", ".join(both)))
    if len(shown) + len(hidden) > MOST_COLUMNS:
        raise ColumnsRefused(_("A list has at most %(count)s columns to choose from.", count=MOST_COLUMNS))
    for name in (*shown, *hidden):
        if not NAME.fullmatch(name):
            raise ColumnsRefused(_("No list has a column named %(name)s.", name=repr(name[:50])))
    columns = {**dict.fromkeys(shown, True), **dict.fromkeys(hidden, False)}
    with transaction() as session:
        if columns:
            session.execute(
                insert(ListColumns)
                .values(user_id=user_id, list_name=list_name, columns=columns)
                .on_conflict_do_update(index_elements=["user_id", "list_name"], set_={"columns": columns})
            )
        else:
            session.execute(
                delete(ListColumns).where(ListColumns.user_id == user_id, ListColumns.list_name == list_name)
            )
