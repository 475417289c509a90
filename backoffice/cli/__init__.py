"""The ``backoffice`` command: Flask's CLI bound to the app, plus the project's own groups.

Each group is a module of this package (``users``, ``customers``, ``managers``, ``meters``, ``targets``, ``ledger``,
``books``, ``billing``, ``pricing``, ``demo_data``, ``embedded``, ``reconcile``, ``health``, ``api_token``,
``api_clients``, ``imports``, ``cut_over``, and
``grant_runtime``, added to Flask-Migrate's ``db``); ``common`` holds what several share. The command itself, its root
group and ``main()``, is :mod:`backoffice.command`: it builds the app, which registers the groups here.
"""

from __future__ import annotations

from flask import Flask

from backoffice.cli import (
    api_clients,
    api_token,
    billing,
    books,
    customers,
    cut_over,
    demo_data,
    embedded,
    health,
    imports,
    ledger,
    managers,
    meters,
    pricing,
    reconcile,
    targets,
    users,
)

GROUPS = (
    users.users,
    customers.customers,
    managers.managers,
    meters.meters,
    targets.targets,
    ledger.ledger,
    books.books,
    billing.billing,
    pricing.pricing,
    demo_data.demo_data,
    embedded.embedded,
    reconcile.reconcile,
    health.health,
    api_token.api_token,
    api_clients.api_client,
    imports.import_file,
    cut_over.cut_over,
)


def init_app(app: Flask) -> None:
    for group in GROUPS:
        app.cli.add_command(group)
