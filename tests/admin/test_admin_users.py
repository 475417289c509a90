"""User management: admins create logins; bad input is refused and writes nothing."""

import pytest
import sqlalchemy as sa

from backoffice.models import Role, User
from backoffice.platform.extensions import db
from tests.factories import UserFactory
from tests.logins import is_logged_in


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


def test_deactivating_on_the_users_page_asks_first_saying_what_happens(client, admin):
    clerk = UserFactory(email="clerk@example.com")
    page = client.get(f"/admin/users/{clerk.id}").get_data(as_text=True)
    assert 'data-confirm-unchecked="Deactivate clerk@example.com? They are logged out everywhere at once' in page


def change_password(client, current: str, new: str, repeated: str | None = None):
    data = {"current_password": current, "new_password": new, "repeated": new if repeated is None else repeated}
    return client.post("/account/password", data=data)


@pytest.mark.parametrize("role", ["finance", "admin"])
def test_a_user_changes_their_own_password_and_their_other_sessions_end(app, client, auth, role):
    user = auth.login(role)
    elsewhere = logged_in_client(app, user)
    assert client.get("/account/password").status_code == 200
    response = change_password(client, "correct horse battery", "a brand new password")
    assert response.status_code == 302
    assert stored_user(user.email).check_password("a brand new password")
    assert is_logged_in(client) and not is_logged_in(elsewhere)


@pytest.mark.parametrize(
    ("current", "new", "repeated", "field", "message"),
    [
        ("wrong password!", "a brand new password", None, "current_password", "That is not your current password."),
        ("", "a brand new password", None, "current_password", "Enter your current password."),
        ("correct horse battery", "short", None, "new_password", "at least 10 characters"),
        ("correct horse battery", "a brand new password", "another one", "repeated", "The two do not match."),
        ("correct horse battery", "correct horse battery", None, "new_password", "is your current one"),
    ],
)
def test_a_password_change_that_is_refused_says_why_and_changes_nothing(
    app, client, auth, current, new, repeated, field, message
):
    user = auth.login("finance")
    before = (stored_user(user.email).password_hash, stored_user(user.email).session_token)
    response = change_password(client, current, new, repeated)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert message in page.split(f'id="error-{field}">', 1)[1].split("</div>", 1)[0]
    after = stored_user(user.email)
    assert (after.password_hash, after.session_token) == before


def test_users_change_sets_a_role_and_resets_a_password_ending_the_sessions(app, runner):
    clerk = UserFactory(email="clerk@example.com")
    browser = logged_in_client(app, clerk)
    result = runner.invoke(
        args=["users", "change", "Clerk@Example.com", "--role", "admin", "--password-stdin"], input="a reset password\n"
    )
    assert result.exit_code == 0, result.output
    assert "User clerk@example.com: admin, active; if anything changed, their sessions have ended." in result.output
    changed = stored_user("clerk@example.com")
    assert changed.role is Role.ADMIN and changed.check_password("a reset password")
    assert not is_logged_in(browser)


def test_users_change_asks_before_deactivating(runner):
    UserFactory(email="clerk@example.com")
    declined = runner.invoke(args=["users", "change", "clerk@example.com", "--inactive"], input="n\n")
    assert declined.exit_code == 1 and "logged out everywhere at once" in declined.output
    assert stored_user("clerk@example.com").active
    accepted = runner.invoke(args=["users", "change", "clerk@example.com", "--inactive"], input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert not stored_user("clerk@example.com").active
    assert runner.invoke(args=["users", "change", "clerk@example.com", "--active"]).exit_code == 0
    assert stored_user("clerk@example.com").active


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["nobody@example.com", "--role", "admin"], "", "No user nobody@example.com."),
        (["clerk@example.com", "--role", "owner"], "", "Invalid value for '--role'"),
        (["clerk@example.com", "--password-stdin"], "short\n", "at least 10 characters"),
        (["clerk@example.com", "--password-stdin"], "\n", "No password on standard input."),
    ],
)
def test_users_change_refuses_bad_input_with_exit_status_2_and_changes_nothing(runner, args, stdin, message):
    UserFactory(email="clerk@example.com")
    before = stored_user("clerk@example.com")
    before = (before.role, before.active, before.password_hash, before.session_token)
    result = runner.invoke(args=["users", "change", *args, "--yes"], input=stdin)
    assert result.exit_code == 2
    assert message in result.output
    after = stored_user("clerk@example.com")
    assert (after.role, after.active, after.password_hash, after.session_token) == before
