from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from backoffice.models import Role, User
from backoffice.models.users import normal_email
from backoffice.platform.addresses import NotAnAddress, email_address
from backoffice.platform.extensions import db
from backoffice.services import expect_version, transaction


class UserError(ValueError):
    """A user that cannot be created or changed as asked; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None; every refusal costs one password check."""
    user = db.session.scalar(select(User).where(User.email == normal_email(email)))
    if user is None:
        User.check_password_of_nobody(password)
        return None
    return user if user.check_password(password) and user.is_active else None


def end_sessions(user: User) -> None:
    """End every session the user has open, the user's row locked first."""
    with transaction() as session:
        _lock(session, user)
        user.end_sessions()


def create_user(email: str, role: Role | str, password: str, name: str = "") -> User:
    """Create a user with this e-mail address, role and password; :class:`UserError` for what is refused."""
    try:
        email = email_address(email.strip()).lower()
    except NotAnAddress as error:
        raise UserError("email", str(error)) from None
    role = _role(role)
    with transaction() as session:
        if session.scalar(select(User.id).where(User.email == email)) is not None:
            raise UserError("email", _("A user with email %(email)s already exists.", email=email))
        user = User(email=email, role=role, name=name.strip())
        _set_password(user, password)
        session.add(user)
    return user


def change_user(
    user: User, role: Role | str, active: bool, password: str | None, by: User | None, *, version: int | None = None
) -> None:
    """Give ``user`` this role, active flag and, if given, password; any change ends the user's sessions.

    An admin cannot change their own role or deactivate themselves: another admin must, so the
    last admin cannot lock everyone out of user management (``by``: the admin; ``None`` from the command line).
    ``version``: the one the user's form was loaded at; raises ``ChangedMeanwhile`` if it is not the user's now.
    """
    role = _role(role)
    with transaction() as session:
        _lock(session, user)
        expect_version(user, version)
        myself = by is not None and user.id == by.id
        if myself and role is not user.role:
            raise UserError("role", _("You cannot change your own role; another admin can."))
        if myself and not active:
            raise UserError("active", _("You cannot deactivate yourself; another admin can."))
        user.role, user.active = role, active
        if password:
            _set_password(user, password)


def change_own_password(user: User, current: str, new: str) -> None:
    """The user's own new password, given their current one; their other sessions end."""
    with transaction() as session:
        _lock(session, user)
        if not user.check_password(current):
            raise UserError("current_password", _("That is not your current password."))
        if new == current:
            raise UserError("new_password", _("The new password is your current one: choose another."))
        try:
            user.set_password(new)
        except ValueError as error:
            raise UserError("new_password", str(error)) from None


def choose_language(user: User, language: str | None) -> None:
    """The language of the user's pages; none: their browser's, else the installation's."""
    from backoffice.platform.i18n import LANGUAGES

    if language not in (*LANGUAGES, None):
        raise UserError(
            "language",
            _(
                "Unknown language %(language)s; use one of: %(languages)s.",
                language=repr(language),
                languages=", ".join(LANGUAGES),
            ),
        )
    with transaction() as session:
        _lock(session, user)
        user.language = language


def _lock(session, user: User) -> None:
    """Read the user again as the database holds it, and lock its row until the transaction ends: a save someone
    else made since it was loaded is built on, not refused by the flush as a change of another version."""
    session.refresh(user, with_for_update=True)


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise UserError(
            "role", _("Unknown role %(role)s; use one of: %(roles)s.", role=repr(role), roles=roles)
        ) from None


def _set_password(user: User, password: str) -> None:
    try:
        user.set_password(password)
    except ValueError as error:
        raise UserError("password", str(error)) from None
