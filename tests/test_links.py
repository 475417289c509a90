"""A list's links built once for the list are the links ``url_for`` builds for each row."""

import pytest
from flask import url_for

from backoffice.web.links import link

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
