"""The kinds of import, by name, in the order an installation is brought in: each refers only to kinds before it.

Apart from their definitions (:mod:`backoffice.imports.kinds`), so that a command lists them without declaring the
models."""

KIND_NAMES = (
    "managers",
    "customers",
    "meters",
    "assignments",
    "prices",
    "orders",
    "readings",
    "balances",
    "invoices",
    "payments",
    "tax_office_numbers",
)
