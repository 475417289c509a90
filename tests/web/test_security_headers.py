"""Every response tells the browser what it may run and who may frame it; the pages need nothing inline."""

import re

import pytest

from tests.checkout import ROOT
from tests.factories import UserFactory

TEMPLATES = ROOT / "templates"


@pytest.fixture
def api_token(app):
    app.config["API_TOKEN"] = "s3cret-token"
    return "s3cret-token"


@pytest.mark.parametrize(
    ("url", "kind"),
    [("/login", "text/html"), ("/static/app.css", "text/css"), ("/admin/balance-health/check", "application/json")],
    ids=["page", "static file", "JSON API"],
)
def test_every_response_carries_the_security_headers(client, api_token, url, kind):
    response = client.get(url, headers={"Authorization": f"Bearer {api_token}"})
    assert response.status_code == 200 and response.mimetype == kind
    policy = dict(
        directive.strip().split(" ", 1) for directive in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
    assert "script-src" not in policy and "unsafe" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"


def test_a_logged_in_page_and_an_error_page_carry_them_too(client, auth):
    auth.login()
    for url in ("/orders", "/no-such-page"):
        assert client.get(url).headers["Content-Security-Policy"].startswith("default-src 'self'")


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda path: str(path.relative_to(ROOT)))
def test_templates_have_no_inline_script_or_style_the_policy_would_block(template):
    text = template.read_text()
    assert not re.search(r"<script(?![^>]*\bsrc=)", text), "inline <script>: move it to static/app.js"
    assert not re.search(r"\son[a-z]+\s*=", text), "on*= handler: use a listener in static/app.js"
    assert not re.search(r"<style|\sstyle\s*=", text), "inline style: use a class in static/app.css"
    assert not re.search(r"javascript:", text)


def test_htmx_is_told_not_to_inject_its_indicator_styles(client):
    UserFactory(email="clerk@example.com")
    page = client.get("/login").get_data(as_text=True)
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles": false}\'>' in page
