"""Rows looked up by a list of their keys."""

from sqlalchemy import Select, and_, false, func, literal
from sqlalchemy.dialects.postgresql import ARRAY


def keyed(query: Select, columns: list, keys: list[tuple]) -> Select:
    """``query`` joined to ``keys`` (tuples of the ``columns``' values): the rows whose columns hold one of them.

    A join to the list, each column's values one array, not ``IN (…)``: for a list of hundreds the planner takes a
    trigram search index for the equality (a second on a table of a few thousand rows, as one just imported is) where
    a join reads the key's own index or hashes the list (a millisecond); and one parameter a column is compiled at
    once, where a list is a parameter a value.
    """
    if not keys:
        return query.where(false())
    names = [f"key_{n}" for n in range(len(columns))]
    by_column = zip(*keys, strict=True)
    arrays = [literal(list(given), ARRAY(one.type)) for one, given in zip(columns, by_column, strict=True)]
    given = func.unnest(*arrays).table_valued(*names).render_derived(name="keys")
    return query.join(given, and_(*(one == given.c[name] for one, name in zip(columns, names, strict=True))))
