from __future__ import annotations

from sqlalchemy import select

from backoffice.models import AccountManager, Customer
from backoffice.services import transaction


class CustomerError(ValueError):
    """A customer that cannot be created as asked; nothing was written."""


def create_customer(code: str, name: str, *, manager_email: str | None = None) -> Customer:
    code, name = code.strip().upper(), name.strip()
    if not code or len(code) > 32 or not code.replace("-", "").replace("_", "").isalnum():
        raise CustomerError(f"{code!r} is not a customer code: use up to 32 letters, digits, '-' or '_'.")
    if not name or len(name) > 200:
        raise CustomerError("A customer needs a name of at most 200 characters.")
    with transaction() as session:
        if session.scalar(select(Customer.id).where(Customer.code == code)) is not None:
            raise CustomerError(f"Customer code {code} is already used.")
        manager = None
        if manager_email:
            manager = session.scalar(
                select(AccountManager).where(AccountManager.email == manager_email.strip().lower())
            )
            if manager is None:
                raise CustomerError(f"No account manager with email {manager_email}.")
        customer = Customer(code=code, name=name, account_manager=manager)
        session.add(customer)
    return customer
