"""Account managers: added and edited by clerks, deactivated and reactivated by admins, on screen and by command."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from backoffice.models import AccountManager
from backoffice.platform.extensions import db
from tests.factories import AccountManagerFactory, CustomerFactory, TargetFactory


def managers() -> list[tuple]:
    db.session.rollback()
    return db.session.execute(
        sa.select(AccountManager.name, AccountManager.email, AccountManager.active).order_by(AccountManager.id)
    ).all()


def test_a_clerk_adds_and_edits_an_account_manager(client, finance):
    response = client.post("/managers/new", data={"name": " Dewi ", "email": "Dewi@Example.com"})
    assert response.status_code == 302
    assert managers() == [("Dewi", "dewi@example.com", True)]
    manager_id = db.session.scalar(sa.select(AccountManager.id))
    page = client.get("/managers").get_data(as_text=True)
    assert "Account manager Dewi added." in page and "dewi@example.com" in page
    assert "Deactivate" not in page
    edit = {"name": "Dewi Lestari", "email": "dewi.lestari@example.com"}
    assert client.post(f"/managers/{manager_id}/edit", data=edit).status_code == 302
    assert managers() == [("Dewi Lestari", "dewi.lestari@example.com", True)]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"name": ""}, "name", "Enter the manager&#39;s name."),
        ({"name": "   "}, "name", "An account manager needs a name"),
        ({"name": "x" * 121}, "name", "Use at most 120 characters."),
        ({"email": ""}, "email", "Enter the manager&#39;s email."),
        ({"email": "not-an-email"}, "email", "is not an email address"),
        ({"email": "TAKEN@example.com"}, "email", "An account manager with email taken@example.com already exists."),
    ],
)
def test_a_manager_that_cannot_be_added_or_saved_says_why_and_writes_nothing(
    client, finance, overrides, field, message
):
    AccountManagerFactory(name="Taken", email="taken@example.com")
    other = AccountManagerFactory(name="Budi", email="budi@example.com")
    before = managers()
    data = {"name": "Dewi", "email": "dewi@example.com"} | overrides
    for url in ("/managers/new", f"/managers/{other.id}/edit"):
        response = client.post(url, data=data)
        assert response.status_code == 422
        page = response.get_data(as_text=True)
        assert message in page.split(f'id="error-{field}">', 1)[1].split("</div>", 1)[0]
        assert managers() == before


def test_deactivating_asks_first_saying_what_the_manager_keeps(client, admin):
    manager = AccountManagerFactory(name="Dewi")
    CustomerFactory(account_manager=manager)
    TargetFactory(account_manager=manager)
    page = client.get(f"/managers/{manager.id}/deactivate").get_data(as_text=True)
    assert "Dewi keeps 1 customer and 1 target" in page and "gets no target" in page
    assert managers()[0][2] is True
    assert client.post(f"/managers/{manager.id}/deactivate").status_code == 302
    assert managers()[0][2] is False
    page = client.get("/managers").get_data(as_text=True)
    assert "Account manager Dewi deactivated." in page and "Reactivate" in page
    assert client.post(f"/managers/{manager.id}/reactivate").status_code == 302
    assert managers()[0][2] is True


def test_deactivating_an_inactive_manager_or_reactivating_an_active_one_says_so(client, admin):
    manager = AccountManagerFactory(name="Dewi")
    response = client.post(f"/managers/{manager.id}/reactivate", follow_redirects=True)
    assert "Dewi is active already." in response.get_data(as_text=True)
    manager.active = False
    db.session.commit()
    response = client.get(f"/managers/{manager.id}/deactivate", follow_redirects=True)
    assert "Dewi is inactive already." in response.get_data(as_text=True)


def test_a_clerk_may_not_deactivate_a_manager(client, finance):
    manager = AccountManagerFactory()
    assert client.post(f"/managers/{manager.id}/deactivate").status_code == 403
    assert managers()[0][2] is True


@pytest.mark.parametrize(
    ("language", "active", "inactive"), [("id", "aktif", "nonaktif"), ("vi", "đang hoạt động", "ngừng hoạt động")]
)
def test_the_managers_list_says_active_and_inactive_in_the_readers_language(
    client, finance, language, active, inactive
):
    AccountManagerFactory(name="Dewi")
    AccountManagerFactory(name="Budi", active=False)
    page = client.get("/managers", headers={"Accept-Language": language}).get_data(as_text=True)
    assert f"<td>{active}</td>" in page and f"<td>{inactive}</td>" in page


def test_an_unknown_manager_is_not_found(client, admin):
    assert client.get("/managers/999/edit").status_code == 404
    assert client.post("/managers/999/deactivate").status_code == 404


def test_managers_commands_add_edit_deactivate_and_reactivate(runner):
    assert runner.invoke(args=["managers", "add", "Dewi", "Dewi@Example.com"]).exit_code == 0
    edited = runner.invoke(
        args=["managers", "edit", "dewi@example.com", "--name", "Dewi L", "--new-email", "dl@example.com"]
    )
    assert edited.exit_code == 0, edited.output
    assert "Saved account manager Dewi L <dl@example.com>." in edited.output
    declined = runner.invoke(args=["managers", "deactivate", "dl@example.com"], input="n\n")
    assert declined.exit_code == 1 and "keeps 0 customer(s) and 0 target(s)" in declined.output
    assert managers() == [("Dewi L", "dl@example.com", True)]
    assert runner.invoke(args=["managers", "deactivate", "dl@example.com"], input="y\n").exit_code == 0
    assert managers() == [("Dewi L", "dl@example.com", False)]
    assert runner.invoke(args=["managers", "reactivate", "dl@example.com"]).exit_code == 0
    assert managers() == [("Dewi L", "dl@example.com", True)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "Dewi", "not-an-email"], "is not an email address"),
        (["add", "Dewi", "taken@example.com"], "already exists"),
        (["add", " ", "new@example.com"], "needs a name"),
        (["edit", "ghost@example.com", "--name", "X"], "No account manager with email ghost@example.com."),
        (["edit", "taken@example.com", "--new-email", "bad@"], "is not an email address"),
        (["deactivate", "ghost@example.com", "--yes"], "No account manager"),
        (["reactivate", "taken@example.com"], "Taken is active already."),
    ],
)
def test_managers_commands_refuse_bad_input_with_a_message_and_write_nothing(runner, args, message):
    AccountManagerFactory(name="Taken", email="taken@example.com")
    before = managers()
    result = runner.invoke(args=["managers", *args])
    assert result.exit_code == 1
    assert message in result.output
    assert managers() == before
