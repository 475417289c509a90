"""A list's links built once for the list are the links ``url_for`` builds for each row."""

import pytest
from flask import url_for

from backoffice.web.plumbing.links import MARKS, link, query_link

CODES = ["C0000001", "C 1/2", "ÇA-ğ%20", "a?b#c&d=e", "..", "+@:;,"]


@pytest.mark.parametrize("code", CODES)
def test_a_link_is_the_address_url_for_builds(app, code):
    with app.test_request_context("/"):
        assert link("customers.show", "code")(code) == url_for("customers.show", code=code)
        assert link("customers.show", "code", tab="ledger")(code) == url_for("customers.show", code=code, tab="ledger")
        for order_id in (1, 42, 9_223_372_036_854_775_000):
            assert link("orders.edit", "order_id")(order_id) == url_for("orders.edit", order_id=order_id)
            movement = link("ledger.movement", "movement_id", code=code)(order_id)
            assert movement == url_for("ledger.movement", code=code, movement_id=order_id)
            both = link("ledger.movement", "code", "movement_id")(code, order_id)
            assert both == url_for("ledger.movement", code=code, movement_id=order_id)


def test_a_link_under_a_prefix_keeps_it(app):
    with app.test_request_context("/", base_url="http://example.com/backoffice/"):
        assert link("orders.edit", "order_id")(7) == url_for("orders.edit", order_id=7) == "/backoffice/orders/7/edit"


def test_only_path_arguments_in_the_paths_order_vary(app):
    with app.test_request_context("/"), pytest.raises(ValueError, match="path arguments"):
        link("orders.index", "manager")
    with app.test_request_context("/"), pytest.raises(ValueError, match="in the order"):
        link("ledger.movement", "movement_id", "code")


@pytest.mark.parametrize("value", [*CODES, "2026-10", 7])
def test_a_query_link_is_the_address_url_for_builds(app, value):
    with app.test_request_context("/"):
        assert query_link("orders.index", "manager", "month")(7, value) == url_for(
            "orders.index", manager=7, month=value
        )
        asked = {"q": "a b", "page": "2", "sort": "-closing"}
        assert query_link("orders.index", "page", **asked)(value) == url_for("orders.index", **dict(asked, page=value))
        assert query_link("orders.index", "sort", q=value)(value) == url_for("orders.index", q=value, sort=value)


def test_a_query_link_given_a_value_that_holds_its_mark_is_still_the_address(app):
    mark = str(MARKS[0])
    with app.test_request_context("/"):
        assert query_link("orders.index", "page", q=mark)(3) == url_for("orders.index", q=mark, page=3)


def test_a_query_link_varies_only_query_arguments(app):
    with app.test_request_context("/"), pytest.raises(ValueError, match="query arguments"):
        query_link("orders.edit", "order_id")
    with app.test_request_context("/"), pytest.raises(ValueError, match="in the order"):
        query_link("orders.index", "month", "manager", manager=1)
