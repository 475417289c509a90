"""User management: admins create logins; bad input is refused and writes nothing."""

import pytest
import sqlalchemy as sa

from backoffice.extensions import db
from backoffice.models import Role, User


@pytest.fixture
def admin(auth):
    return auth.login("admin")


def emails():
    return db.session.scalars(sa.select(User.email).order_by(User.email)).all()


def test_an_admin_creates_a_finance_user_who_can_log_in(client, admin, app):
    response = client.post(
        "/admin/users",
        data={"email": "New.Clerk@example.com", "name": "New Clerk", "role": "finance", "password": "long enough pw"},
    )
    assert response.status_code == 302
    user = db.session.scalar(sa.select(User).where(User.email == "new.clerk@example.com"))
    assert user.role is Role.FINANCE and user.name == "New Clerk"
    other = app.test_client()
    assert (
        other.post("/login", data={"email": "new.clerk@example.com", "password": "long enough pw"}).status_code == 302
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"email": ""}, "This field is required"),
        ({"email": "not-an-email"}, "is not an email address"),
        ({"email": "TAKEN@example.com"}, "already exists"),
        ({"password": "short"}, "at least 10 characters"),
        ({"password": ""}, "This field is required"),
        ({"role": "owner"}, "Not a valid choice"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(client, admin, overrides, message):
    client.post("/admin/users", data={"email": "taken@example.com", "role": "finance", "password": "long enough pw"})
    before = emails()
    data = {"email": "someone@example.com", "name": "", "role": "finance", "password": "long enough pw"} | overrides
    response = client.post("/admin/users", data=data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert emails() == before
