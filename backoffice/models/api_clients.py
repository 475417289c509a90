"""The systems around the back-office that call its API (``/api/v1``), each with a token an admin issued, and the
calls they made."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Index, SmallInteger, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.types import utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db


class ApiClient(db.Model):
    """A system that calls the API with its own token. The token is shown once, when it is issued, and kept nowhere:
    the row holds its SHA-256, which finds the client a call names, and its first characters, which an admin
    recognises it by. A revoked client's token is refused from its next call on."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When it last called, whatever the answer (written with each call's log row)."""
    version: Mapped[int] = mapped_column(server_default=text("1"))

    issued_by: Mapped[User | None] = relationship(foreign_keys=[issued_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def __str__(self) -> str:
        return self.name


class ApiCall(db.Model):
    """One call a client made, whatever its answer. Rows are only ever added."""

    __tablename__ = "api_calls"
    __table_args__ = (Index("ix_api_calls_client_id_id", "client_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_clients.id"))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2000))
    """The address called, with its query."""
    status: Mapped[int] = mapped_column(SmallInteger)
    called_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    """The ``Idempotency-Key`` the call sent, as it sent it."""
    request_id: Mapped[str | None] = mapped_column(String(128))
    """The request's id, which its log lines carry (``X-Request-ID``)."""

    client: Mapped[ApiClient] = relationship()
