"""backoffice: a finance back-office whose derived money figures are provably right."""

from backoffice.app import create_app, register_migrations

__all__ = ["create_app", "register_migrations"]
