"""The ``backoffice`` command: Flask's CLI bound to the app, plus the project's own groups.

Each group is a module of this package (``users``, ``customers``, ``managers``, ``meters``, ``targets``, ``ledger``,
``books``, ``billing``, ``pricing``, ``demo_data``, ``reconcile``, ``health``, ``api_token``, and ``grant_runtime``,
added to Flask-Migrate's ``db``); ``common`` holds what several share. The command itself, its root group
and ``main()``, is :mod:`backoffice.command`: it builds the app, which registers the groups here.
"""

from __future__ import annotations

from flask import Flask

from backoffice.cli import (
    api_token,
    billing,
    books,
    customers,
    demo_data,
    health,
    ledger,
    managers,
    meters,
    pricing,
    reconcile,
    targets,
    users,
)


def init_app(app: Flask) -> None:
    app.cli.add_command(users.users)
    app.cli.add_command(customers.customers)
    app.cli.add_command(managers.managers)
    app.cli.add_command(meters.meters)
    app.cli.add_command(targets.targets)
    app.cli.add_command(ledger.ledger)
    app.cli.add_command(books.books)
    app.cli.add_command(billing.billing)
    app.cli.add_command(pricing.pricing)
    app.cli.add_command(demo_data.demo_data)
    app.cli.add_command(reconcile.reconcile)
    app.cli.add_command(health.health)
    app.cli.add_command(api_token.api_token)
