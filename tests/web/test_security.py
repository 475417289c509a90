"""Who may reach what: login everywhere, CSRF on every POST, roles on admin views."""

import re

import pytest
import sqlalchemy as sa

from backoffice import create_app
from backoffice.models import Order, Role, User
from backoffice.models.types import Month
from backoffice.platform.extensions import db
from backoffice.services import month_end
from tests.factories import CustomerFactory, MeterFactory, UserFactory, imported
from tests.pages import csrf_token


def _routes():
    """Every (endpoint, method, url) the app serves, with placeholder values for URL arguments."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": "postgresql://nobody@127.0.0.1:9/none", "SECRET_KEY": "x"})
    adapter = app.url_map.bind("localhost")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        values = {name: _placeholder(rule._converters[name]) for name in rule.arguments}
        url = adapter.build(rule.endpoint, values)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            view = app.view_functions[rule.endpoint]
            yield pytest.param(rule.endpoint, method, url, view, id=f"{method} {rule.rule}")


def _placeholder(converter):
    """A value the URL argument's converter accepts: an id, one of its choices, or a word."""
    if getattr(converter, "items", None):
        return sorted(converter.items)[0]
    return 1 if isinstance(converter.to_python("1"), int) else "x"


ROUTES = list(_routes())
PUBLIC = {"auth.login", "static"}
API = [p for p in ROUTES if getattr(p.values[3], "api", False)]
PAGES = [p for p in ROUTES if p.values[0] not in PUBLIC and p not in API]
ADMIN_ONLY = [p for p in ROUTES if getattr(p.values[3], "required_role", None) is Role.ADMIN]


@pytest.mark.parametrize(("endpoint", "method", "url", "view"), PAGES)
def test_anonymous_users_are_sent_to_login(csrf_app, endpoint, method, url, view):
    response = csrf_app.test_client().open(url, method=method)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


@pytest.mark.parametrize(("endpoint", "method", "url", "view"), API)
def test_anonymous_api_calls_get_401_json(csrf_app, endpoint, method, url, view):
    response = csrf_app.test_client().open(url, method=method)
    assert response.status_code == 401
    assert response.get_json()["status"] == "error"


@pytest.mark.parametrize(("endpoint", "method", "url", "view"), API)
def test_finance_sessions_get_401_from_the_api(client, auth, endpoint, method, url, view):
    auth.login("finance")
    assert client.open(url, method=method).status_code == 401


def test_the_login_page_and_static_files_are_public(client):
    assert client.get("/login").status_code == 200
    assert client.get("/static/app.css").status_code == 200


def test_there_are_admin_only_views_to_check():
    assert ADMIN_ONLY, "user management is admin-only"


@pytest.mark.parametrize(("endpoint", "method", "url", "view"), ADMIN_ONLY)
def test_finance_users_cannot_reach_admin_views(client, auth, endpoint, method, url, view):
    auth.login("finance")
    assert client.open(url, method=method).status_code == 403


@pytest.mark.parametrize(("endpoint", "method", "url", "view"), [p for p in ADMIN_ONLY if p.values[1] == "GET"])
def test_admins_reach_admin_views(client, auth, endpoint, method, url, view):
    auth.login("admin")
    # The rows the placeholders name: customer "x" (with account manager 1), meter 1, import 1; a month-end's zip.
    CustomerFactory(code="x")
    MeterFactory()
    imported(b"Meter serial\nM-9\n")
    if endpoint == "month_end.download":
        url = "/admin/month-end/2026-10.zip"
        zipped = month_end.zip_path(Month.parse("2026-10"))
        zipped.parent.mkdir(parents=True, exist_ok=True)
        zipped.write_bytes(b"PK\x05\x06" + bytes(18))  # an empty zip
    assert client.open(url, method=method).status_code == 200


def test_a_post_without_csrf_token_is_refused_and_writes_nothing(csrf_app):
    client = csrf_app.test_client()
    user = UserFactory()
    token = csrf_token(client)
    client.post("/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": token})
    customer = CustomerFactory()
    form = {
        "customer_id": customer.code,
        "account_manager_id": customer.account_manager.email,
        "closing_date": "2026-11-01",
        "total_price": "1",
        "additions": "0",
        "promo": "0",
        "reductions": "0",
    }
    refused = client.post("/orders/new", data=form)
    assert refused.status_code == 400
    assert "Reload the page" in refused.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Order.id))) == 0
    assert client.post("/orders/new", data=form | {"csrf_token": csrf_token(client, "/orders/new")}).status_code == 302


def test_htmx_requests_carry_the_csrf_token_in_a_header(csrf_app):
    client = csrf_app.test_client()
    user = UserFactory()
    client.post(
        "/login", data={"email": user.email, "password": "correct horse battery", "csrf_token": csrf_token(client)}
    )
    page = client.get("/orders/new").get_data(as_text=True)
    header_token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    amounts = {"total_price": "1", "additions": "0", "promo": "0", "reductions": "0"}
    assert client.post("/orders/grand-total", data=amounts).status_code == 400
    assert client.post("/orders/grand-total", data=amounts, headers={"X-CSRFToken": header_token}).status_code == 200


@pytest.mark.parametrize(
    ("email", "password"),
    [("user@example.com", "wrong password"), ("nobody@example.com", "correct horse battery"), ("", "")],
)
def test_a_failed_login_says_so_and_does_not_log_in(client, email, password):
    UserFactory(email="user@example.com")
    response = client.post("/login", data={"email": email, "password": password})
    assert response.status_code == 422
    assert client.get("/orders").status_code == 302


def test_a_deactivated_user_cannot_log_in(client):
    UserFactory(email="gone@example.com", active=False)
    response = client.post("/login", data={"email": "gone@example.com", "password": "correct horse battery"})
    assert response.status_code == 422


def test_login_follows_next_but_never_off_site(client):
    UserFactory(email="user@example.com")
    data = {"email": "USER@example.com ", "password": "correct horse battery"}
    assert client.post("/login?next=/targets", data=data).headers["Location"] == "/targets"
    client.post("/logout")
    assert client.post("/login?next=//evil.example/x", data=data).headers["Location"] == "/"


def test_session_cookie_is_httponly_and_samesite(client):
    UserFactory(email="user@example.com")
    response = client.post("/login", data={"email": "user@example.com", "password": "correct horse battery"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_passwords_are_stored_hashed(app):
    UserFactory(email="user@example.com", password="correct horse battery")
    stored = db.session.scalar(sa.select(User.password_hash))
    assert "correct horse battery" not in stored and stored.startswith("pbkdf2:")


def test_logout_needs_a_post(client, auth):
    auth.login()
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 302
    assert client.get("/orders").status_code == 302


@pytest.mark.parametrize(
    ("form_address", "page"),
    [
        ("/customers/HOTEL/recharge", "/customers/HOTEL"),
        ("/customers/HOTEL/assignments/1/deactivate", "/customers/HOTEL"),
        ("/books/journal/new/totals", "/books/journal/new"),
    ],
)
def test_a_form_address_opened_as_a_page_leads_to_the_page_the_form_is_on(client, auth, form_address, page):
    CustomerFactory(code="HOTEL")
    auth.login("admin")
    response = client.get(form_address)
    assert response.status_code == 303 and response.headers["Location"] == page
