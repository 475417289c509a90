"""The runtime role: a login role granted what the running application needs, and the application built on it."""

from __future__ import annotations

from contextlib import contextmanager

import sqlalchemy as sa
from flask import current_app

from backoffice import create_app, register_migrations
from backoffice.platform.extensions import db


def drop_role(role: str) -> None:
    """The login role dropped, with what it owns, if it is there."""
    db.session.rollback()
    with db.engine.begin() as connection:
        if connection.scalar(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}):
            connection.exec_driver_sql(f'DROP OWNED BY "{role}"')
            connection.exec_driver_sql(f'DROP ROLE "{role}"')


def grant(app, role: str):
    """``backoffice db grant-runtime ROLE``, run as the owner: its result."""
    register_migrations(app)
    return app.test_cli_runner().invoke(args=["db", "grant-runtime", role])


@contextmanager
def runtime_app(url: str, **config):
    """The application built on the runtime role's URL, its context pushed; its connections closed after."""
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": "test",
            "WTF_CSRF_ENABLED": False,
            "REDIS_URL": None,
            "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
            "ANCHORS_FOLDER": current_app.config["ANCHORS_FOLDER"],
            **config,
        }
    )
    with app.app_context():
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()
