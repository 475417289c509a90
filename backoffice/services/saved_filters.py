"""A list's filters each person saved under a name of their own (``saved_filters``): saved, saved again in their
place, listed and deleted, each person's own only."""

from __future__ import annotations

from collections.abc import Sequence

from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert

from backoffice.models import SavedFilter, User
from backoffice.models.types import utcnow
from backoffice.platform.extensions import db
from backoffice.services import transaction

LONGEST_NAME = 60
"""The longest name, in characters."""
MOST_SAVED = 30
"""The most filters a person keeps of one list."""
LONGEST_QUERY = 2000
"""The longest query string kept, in characters (what was typed in a search counts)."""


class FiltersRefused(ValueError):
    """Filters that cannot be saved as sent; nothing was written."""


def saved_filters(user_id: int, list_name: str) -> Sequence[SavedFilter]:
    """The person's saved filters of the list, by name."""
    return db.session.scalars(
        select(SavedFilter)
        .where(SavedFilter.user_id == user_id, SavedFilter.list_name == list_name)
        .order_by(func.lower(SavedFilter.name), SavedFilter.id)
    ).all()


def save_filters(user_id: int, list_name: str, name: str, query_string: str) -> bool:
    """Keep the list's filters (its query string) under the name, for the person; ``True`` when they replace the
    filters saved under that name before."""
    name = name.strip()
    if not 1 <= len(name) <= LONGEST_NAME:
        raise FiltersRefused(_("Name the filters in 1 to %(longest)s characters.", longest=LONGEST_NAME))
    if not query_string:
        raise FiltersRefused(_("There is no filter or sort to save: choose some, then save them."))
    if len(query_string) > LONGEST_QUERY:
        raise FiltersRefused(_("These filters are too long to save: shorten what they search for."))
    theirs = (SavedFilter.user_id == user_id, SavedFilter.list_name == list_name)
    with transaction() as session:
        # The person's saves one at a time: two at once cannot both pass the limit.
        session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))
        replaced = session.scalar(select(SavedFilter.id).where(*theirs, SavedFilter.name == name)) is not None
        if not replaced and session.scalar(select(func.count()).select_from(SavedFilter).where(*theirs)) >= MOST_SAVED:
            raise FiltersRefused(
                _(
                    "You keep %(most)s saved filters of this list, the most there may be: delete one to save another.",
                    most=MOST_SAVED,
                )
            )
        session.execute(
            insert(SavedFilter)
            .values(user_id=user_id, list_name=list_name, name=name, query_string=query_string, created_at=utcnow())
            .on_conflict_do_update(
                constraint="uq_saved_filters_user_id_list_name_name",
                set_={"query_string": query_string, "created_at": utcnow()},
            )
        )
    return replaced


def delete_filters(user_id: int, list_name: str, filter_id: int) -> str | None:
    """Delete the person's saved filters of the list; their name, or ``None`` when the person has none such."""
    with transaction() as session:
        return session.scalar(
            delete(SavedFilter)
            .where(SavedFilter.id == filter_id, SavedFilter.user_id == user_id, SavedFilter.list_name == list_name)
            .returning(SavedFilter.name)
        )
