"""The roles a user has: ``finance`` (edit, view, download) and ``admin`` (also recalculate, heal, rebuild, users).

A module of its own, outside the models, so that the ``backoffice`` command can offer them without declaring the
models.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    FINANCE = "finance"
    ADMIN = "admin"
