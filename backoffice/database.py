"""The database bound to an app: the models declared, the extension bound, and the listeners that keep the derived
fields right (the hooks, the seals, the closed periods).

``create_app`` binds it, except for the ``backoffice`` command, whose commands bind it when they run (see
``backoffice.cli.common``): a command's help, its settings' errors, the list of the checks and the health check
are had without the models, the third of a second their declaring and configuring take.
"""

from __future__ import annotations

from flask import Flask


def bind(app: Flask) -> None:
    """Bind the database to ``app`` (idempotent)."""
    if "sqlalchemy" in app.extensions:
        return
    from sqlalchemy.orm import configure_mappers

    from backoffice import hooks, models, seals  # noqa: F401  (models: registers the tables on the metadata)
    from backoffice.extensions import db, register_database_behaviour
    from backoffice.models.types import register_sqlite_functions
    from backoffice.posting import periods

    configure_mappers()  # SQLAlchemy-Continuum declares the history tables then
    register_database_behaviour()
    register_sqlite_functions()
    db.init_app(app)
    hooks.register()
    seals.register()
    periods.register()
