import secrets
from datetime import datetime
from functools import cache

from flask import current_app
from flask_babel import gettext as _
from flask_login import UserMixin
from sqlalchemy import DateTime, String, text
from sqlalchemy.orm import Mapped, mapped_column, validates
from werkzeug.security import check_password_hash, generate_password_hash

from backoffice.models.types import nearest_index, str_enum, trigram_index, utcnow
from backoffice.platform.extensions import db
from backoffice.platform.roles import Role

MIN_PASSWORD_LENGTH = 10


def new_session_token() -> str:
    return secrets.token_hex(16)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    # A password's hash and the session token are secrets, not history; the language is a preference.
    __versioned__ = {"exclude": ["password_hash", "session_token", "language", "version"]}
    __table_args__ = (
        trigram_index("users", "email", "name"),
        nearest_index("users", "email"),
        nearest_index("users", "name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(str_enum(Role, "user_role"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Part of every session's user id (see get_id): a new token ends every session made before it.
    session_token: Mapped[str] = mapped_column(String(32), default=new_session_token)
    # The language of the user's pages (en, id or vi); none: their browser's, else the installation's.
    language: Mapped[str | None] = mapped_column(String(5), default=None)
    version: Mapped[int] = mapped_column(server_default=text("1"))
    """Moved by every save of the row; a save over another version than the one its form loaded is refused."""

    __mapper_args__ = {"version_id_col": version}

    @validates("email")
    def _normalise_email(self, _key: str, value: str) -> str:
        return normal_email(value)

    @validates("password_hash", "role", "active")
    def _end_sessions_when_access_changes(self, key: str, value):
        if getattr(self, key) != value:
            self.end_sessions()
        return value

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"

    def end_sessions(self) -> None:
        self.session_token = new_session_token()

    def set_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise ValueError(_("The password must have at least %(count)s characters.", count=MIN_PASSWORD_LENGTH))
        self.password_hash = generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @staticmethod
    def check_password_of_nobody(password: str) -> None:
        """Take as long as checking a user's password, so a refused login does not tell whether the email exists."""
        check_password_hash(_hash_of_nobody(current_app.config["PASSWORD_HASH_METHOD"]), password)

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def has_role(self, role: Role) -> bool:
        return self.role is Role.ADMIN or self.role is role


@cache
def _hash_of_nobody(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def normal_email(text: str) -> str:
    """An email as it is stored, looked up and throttled: however it was spelt."""
    return text.strip().lower()
