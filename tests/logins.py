"""Logging a test client in and out as a user the factories made (with the factories' password)."""

from __future__ import annotations

from backoffice.models import User
from tests.factories import PASSWORD


def log_in(client, user: User) -> None:
    """The client logged out, then in as ``user``."""
    client.post("/logout")
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302, response.get_data(as_text=True)


def is_logged_in(client) -> bool:
    """Whether the client is let in to a page that needs a login."""
    return client.get("/orders").status_code == 200
