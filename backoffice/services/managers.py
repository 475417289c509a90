"""Account managers: adding one, editing their name and email, deactivating and reactivating them.

A manager is never deleted: customers, orders and targets refer to them. An inactive manager
keeps all of those; they are not offered for a customer's new account manager and get no
targets when a month's targets are generated.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from backoffice.models import AccountManager, Customer, Target
from backoffice.models.users import normal_email
from backoffice.platform.addresses import NotAnAddress, email_address
from backoffice.platform.extensions import db
from backoffice.posting.locking import lock_rows
from backoffice.services import expect_version, transaction


class ManagerError(ValueError):
    """An account manager that cannot be added or changed as asked; nothing was written. ``field`` names the input
    at fault."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def create_manager(name: str, email: str, *, active: bool = True) -> AccountManager:
    """Add an account manager (an inactive one: as an import brings one in who has left)."""
    name, email = _name(name), checked_email(email)
    with transaction() as session:
        _refuse_email_taken(email)
        manager = AccountManager(name=name, email=email, active=active)
        session.add(manager)
    return manager


def change_manager(manager: AccountManager, name: str, email: str, *, version: int | None = None) -> AccountManager:
    """Save the manager's name and email. ``version``: the one their form was loaded at; raises ``ChangedMeanwhile``
    if it is not the manager's now."""
    name, email = _name(name), checked_email(email)
    with transaction():
        expect_version(manager, version)
        _refuse_email_taken(email, manager.id)
        manager.name, manager.email = name, email
    return manager


def set_active(manager: AccountManager, active: bool) -> AccountManager:
    """Deactivate or reactivate the manager; everything that refers to them stays as it is."""
    with transaction() as session:
        lock_rows(session.connection(), AccountManager.__table__, [manager.id])
        session.refresh(manager)
        if manager.active is active:
            refusal = _("%(name)s is active already.") if active else _("%(name)s is inactive already.")
            raise ManagerError(refusal % {"name": manager.name}, "active")
        manager.active = active
    return manager


def what_refers_to(manager: AccountManager) -> tuple[int, int]:
    """How many customers have the manager, and how many targets they have: what their deactivation keeps."""
    customers = db.session.scalar(select(func.count(Customer.id)).where(Customer.account_manager_id == manager.id))
    targets = db.session.scalar(select(func.count(Target.id)).where(Target.account_manager_id == manager.id))
    return customers, targets


def manager_by_email(email: str) -> AccountManager:
    """The account manager with this e-mail address; :class:`ManagerError` if none."""
    manager = db.session.scalar(select(AccountManager).where(AccountManager.email == normal_email(email)))
    if manager is None:
        raise ManagerError(_("No account manager with email %(email)s.", email=email), "email")
    return manager


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120:
        raise ManagerError(_("An account manager needs a name of at most 120 characters."), "name")
    return name


def checked_email(email: str) -> str:
    """An account manager's e-mail address, checked and lower-cased; :class:`ManagerError` if not one."""
    try:
        email = email_address(email.strip()).lower()
    except NotAnAddress as error:
        raise ManagerError(str(error), "email") from None
    if len(email) > 254:
        raise ManagerError(_("An email address has at most 254 characters."), "email")
    return email


def _refuse_email_taken(email: str, manager_id: int | None = None) -> None:
    query = select(AccountManager.id).where(AccountManager.email == email)
    if manager_id is not None:
        query = query.where(AccountManager.id != manager_id)
    with db.session.no_autoflush:
        if db.session.scalar(query) is not None:
            raise ManagerError(_("An account manager with email %(email)s already exists.", email=email), "email")
