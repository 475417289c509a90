"""User management: admins create logins; bad input is refused and writes nothing."""

import pytest
import sqlalchemy as sa

from backoffice.extensions import db
from backoffice.models import Role, User
from tests.factories import UserFactory


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


def logged_in_client(app, user: User):
    client = app.test_client()
    assert client.post("/login", data={"email": user.email, "password": "correct horse battery"}).status_code == 302
    return client


def is_logged_in(client) -> bool:
    return client.get("/orders").status_code == 200


def edit(client, user: User, **changes):
    data = {"role": user.role.value, "active": "y" if user.active else ""} | changes
    return client.post(f"/admin/users/{user.id}", data={k: v for k, v in data.items() if v != ""})


def stored_user(email: str) -> User:
    db.session.expire_all()
    return db.session.scalar(sa.select(User).where(User.email == email))


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"role": "admin"}, lambda user: user.role is Role.ADMIN),
        ({"active": ""}, lambda user: not user.active),
        ({"password": "a new long password"}, lambda user: user.check_password("a new long password")),
    ],
    ids=["role", "deactivation", "password"],
)
def test_an_admins_change_to_a_user_ends_their_sessions(app, client, admin, changes, check):
    clerk = UserFactory(email="clerk@example.com")
    token = clerk.session_token
    clerks_browser = logged_in_client(app, clerk)
    response = edit(client, clerk, **changes)
    assert response.status_code == 302, response.get_data(as_text=True)
    changed = stored_user("clerk@example.com")
    assert check(changed) and changed.session_token != token
    assert not is_logged_in(clerks_browser)


def test_an_admins_unchanged_save_keeps_the_users_sessions(app, client, admin):
    clerk = UserFactory(email="clerk@example.com")
    clerks_browser = logged_in_client(app, clerk)
    assert edit(client, clerk).status_code == 302
    assert is_logged_in(clerks_browser)


def test_an_admin_who_changes_their_own_password_stays_logged_in_here_only(app, client, admin):
    elsewhere = logged_in_client(app, admin)
    assert edit(client, admin, password="a new long password").status_code == 302
    assert is_logged_in(client) and not is_logged_in(elsewhere)
    assert stored_user(admin.email).check_password("a new long password")


@pytest.mark.parametrize(
    ("whose", "changes", "message"),
    [
        ("clerk", {"password": "short"}, "at least 10 characters"),
        ("clerk", {"role": "owner"}, "Not a valid choice"),
        ("own", {"role": "finance"}, "cannot change your own role"),
        ("own", {"active": ""}, "cannot deactivate yourself"),
    ],
)
def test_bad_changes_are_refused_and_write_nothing(app, client, admin, whose, changes, message):
    user = UserFactory(email="clerk@example.com") if whose == "clerk" else admin
    before = stored_user(user.email)
    before = (before.role, before.active, before.password_hash, before.session_token)
    response = edit(client, user, **changes)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    after = stored_user(user.email)
    assert (after.role, after.active, after.password_hash, after.session_token) == before


def test_changing_a_user_who_does_not_exist_is_not_found(client, admin):
    assert client.post("/admin/users/999", data={"role": "finance", "active": "y"}).status_code == 404
