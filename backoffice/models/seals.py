"""Seals on the evidence, and the evidence found without one.

A :class:`Seal` is an HMAC, under a key the database does not hold (``BACKOFFICE_SEAL_KEY``), of one row of evidence
and of the seal of the row before it in its chain: whoever writes to the database without the key can add a row, but
not its seal. A row found without a valid seal is :class:`TamperedEvidence`, and its customer is quarantined until an
admin decides.
"""

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.customers import Customer
from backoffice.models.types import str_enum, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH

UNRESOLVED = text("resolution IS NULL")


class Seal(db.Model):
    __tablename__ = "seals"
    __table_args__ = (
        Index("ix_seals_chain", "kind", "chain", "row_id"),
        Index("ix_seals_sealed_at", "kind", "sealed_at"),
    )

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    """What is sealed: a table's name, or ``approval_decisions`` for a request's decision (``approval_first_approvals``
    for its first approval)."""
    row_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False, default=0)
    """A history version's transaction; 0 for the rest."""
    chain: Mapped[int | None] = mapped_column(BigInteger)
    """The chain the row is in: its customer (wallet movements), its record (history versions)."""
    prev_row_id: Mapped[int | None] = mapped_column(BigInteger)
    prev_version: Mapped[int | None] = mapped_column(BigInteger)
    """The row before it in its chain, sealed when it was sealed; none for a chain's first."""
    seal: Mapped[str] = mapped_column(String(64))
    sealed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SealKey(db.Model):
    """The fingerprint of the key the evidence is sealed with: one row, written once (``backoffice.evidence.seals``)."""

    __tablename__ = "seal_key"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=1)
    fingerprint: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    database: Mapped[str | None] = mapped_column(String(32))
    """This database's identity, made by migration 0049: each anchor names the database it describes."""
    database_seal: Mapped[str | None] = mapped_column(String(64))
    """An HMAC of the identity under the seal key (``seals.identity_seal``)."""


class AnchorRecord(db.Model):
    """An anchor the nightly maintenance wrote to the anchors folder (``backoffice.evidence.anchors``): its night, the
    digest of its heads, the seal of the anchor before it and the seal of its file. Append-only and sealed: the
    folder's files are proved against it."""

    __tablename__ = "anchor_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    day: Mapped[str] = mapped_column(String(10))
    digest: Mapped[str] = mapped_column(String(64))
    chains: Mapped[int]
    previous: Mapped[str | None] = mapped_column(String(64))
    file_seal: Mapped[str] = mapped_column(String(64))
    run_id: Mapped[int | None]
    anchored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class EvidenceMark(db.Model):
    """Per kind of evidence, the highest row id and version the latest anchor holds, written with it: what the
    database's trigger on each kind's table compares each inserted row with (migration ``0070``)."""

    __tablename__ = "evidence_marks"

    kind: Mapped[str] = mapped_column(String(64), primary_key=True)
    row_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)


class EvidenceInsertedBelow(db.Model):
    """A row of evidence inserted at or below its kind's mark (:class:`EvidenceMark`): a row the application writes
    takes an id above it, and is sealed as it is written, so such a row was inserted past the application, or by a
    transaction that began before the anchor. Recorded by the database's trigger on each kind's table, whoever
    inserts it (migration ``0070``); the next nightly verifies these rows beside those sealed since the anchor,
    rather than reading every anchored row for one without a seal. Append-only."""

    __tablename__ = "evidence_inserted_below"
    __table_args__ = (Index("ix_evidence_inserted_below_kind", "kind", "inserted_at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger)
    inserted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=text("now()"))


class Resolution(enum.StrEnum):
    REVERSED = "reversed"
    """The rows' money was taken back by sealed reversals."""
    ACCEPTED = "accepted"
    """An admin vouched for the rows, with a reason."""


class TamperedEvidence(db.Model):
    """A row of evidence without a valid seal, found by the ``evidence_seals`` check, until an admin decides."""

    __tablename__ = "tampered_evidence"
    __table_args__ = (
        Index(
            "uq_tampered_evidence_open",
            "kind",
            "row_id",
            "version",
            unique=True,
            postgresql_where=UNRESOLVED,
        ),
        Index("ix_tampered_evidence_customer", "customer_id"),
        Index("ix_tampered_evidence_resolved_at", "resolved_at"),  # the latest decided
        CheckConstraint("resolution IS NULL OR length(trim(reason)) > 0", name="decided_with_reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    row_id: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    """The customer the row moves or describes: quarantined while the finding is open."""
    entry_id: Mapped[int | None] = mapped_column(BigInteger)
    """The journal entry the row posts (or is): its accounts' balances wait while the finding is open."""
    what: Mapped[str] = mapped_column(String(300))
    """The finding, as the run reported it: the row and what is wrong with its seal."""
    found_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    found_run_id: Mapped[int | None] = mapped_column(ForeignKey("reconciliation_runs.id"))
    resolution: Mapped[Resolution | None] = mapped_column(str_enum(Resolution, "evidence_resolution"))
    reason: Mapped[str | None] = mapped_column(String(DESCRIPTION_LENGTH))
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_seal: Mapped[str | None] = mapped_column(String(64))
    """Once decided: the seal of the row as the admin reviewed it. The row verifies while it stays so."""

    customer: Mapped[Customer | None] = relationship()
    resolved_by: Mapped[User | None] = relationship()
