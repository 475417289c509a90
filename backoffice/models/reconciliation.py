"""The audit trail of the reconciliation engine: runs, their per-check counts, and discrepancies."""

import enum
from datetime import datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.types import as_utc, str_enum, utcnow
from backoffice.models.users import User
from backoffice.platform.extensions import db
from backoffice.platform.lines import DESCRIPTION_LENGTH

Amount = Numeric(24, 4, asdecimal=True)
"""Stored and expected values of any checked field (money has 2 places, volumes 4), and their difference: wide
enough for two balances of ``NUMERIC(20,2)``."""


class RunMode(enum.StrEnum):
    VERIFY = "verify"
    FIX = "fix"
    REBUILD = "rebuild"
    DRY_RUN = "dry-run"

    @property
    def writes(self) -> bool:
        return self in (RunMode.FIX, RunMode.REBUILD)


class RunTrigger(enum.StrEnum):
    USER = "user"
    CLI = "cli"
    API = "api"
    SCHEDULE = "schedule"
    WRITE_PATH = "write-path"

    @property
    def label(self) -> str:
        """Who started a run, as a clerk reads it."""
        return {
            RunTrigger.USER: _l("a user"),
            RunTrigger.CLI: _l("the command line"),
            RunTrigger.API: _l("the operations API"),
            RunTrigger.SCHEDULE: _l("the schedule"),
            RunTrigger.WRITE_PATH: _l("a change as it was saved"),
        }[self]


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


FULL = "CAST(scope AS VARCHAR) = '{}'"
"""A run over everything: no customers, no months."""


class ReconciliationRun(db.Model):
    """One run of the engine. Once finished (succeeded or failed), the database refuses any change to it, its
    counts and its discrepancies: they are the audit trail."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        Index("ix_reconciliation_runs_started_at", "started_at"),
        Index("ix_reconciliation_runs_finished_at", "finished_at"),
        # The runs over everything apart from those over some customers: each check's latest full run.
        Index("ix_reconciliation_runs_full", "id", postgresql_where=text(FULL)),
        Index("ix_reconciliation_runs_full_finished", "finished_at", postgresql_where=text(FULL)),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[RunMode] = mapped_column(str_enum(RunMode, "reconciliation_mode"))
    trigger: Mapped[RunTrigger] = mapped_column(str_enum(RunTrigger, "reconciliation_trigger"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    scope: Mapped[dict] = mapped_column(JSON, default=dict)
    checks: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[RunStatus] = mapped_column(str_enum(RunStatus, "reconciliation_status"), default=RunStatus.RUNNING)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[User | None] = relationship()
    results: Mapped[list["CheckResult"]] = relationship(
        back_populates="run", order_by="CheckResult.id", cascade="all, delete-orphan"
    )

    @property
    def mismatched(self) -> int:
        return sum(result.mismatched for result in self.results)

    @property
    def fixed(self) -> int:
        return sum(result.fixed for result in self.results)

    @property
    def left(self) -> int:
        """Mismatches this run found and did not fix."""
        return self.mismatched - self.fixed

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (as_utc(self.finished_at) - as_utc(self.started_at)).total_seconds()  # float-ok: a duration


class CheckResult(db.Model):
    """One check's counts in one run; ``totals`` holds each field's stored and expected sums."""

    __tablename__ = "reconciliation_check_results"
    __table_args__ = (
        Index("ix_reconciliation_check_results_check_run", "check", "run_id"),
        Index("ix_reconciliation_check_results_check_id", "check", "id"),  # a check's latest result
        Index("ix_reconciliation_check_results_run_id", "run_id"),  # a run's results
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id", ondelete="CASCADE"))
    check: Mapped[str] = mapped_column(String(64))
    checked: Mapped[int] = mapped_column(default=0)
    mismatched: Mapped[int] = mapped_column(default=0)
    fixed: Mapped[int] = mapped_column(default=0)
    totals: Mapped[dict] = mapped_column(JSON, default=dict)
    duration_ms: Mapped[int] = mapped_column(default=0)
    covered: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    """Which part of its rows a check that grows with the journal read in a nightly maintenance (``reconcile.night``);
    None for any other run, which reads them all."""

    run: Mapped[ReconciliationRun] = relationship(back_populates="results")

    @property
    def left(self) -> int:
        return self.mismatched - self.fixed


class Discrepancy(db.Model):
    __tablename__ = "reconciliation_discrepancies"
    __table_args__ = (
        Index("ix_reconciliation_discrepancies_run_check", "run_id", "check"),
        Index("ix_reconciliation_discrepancies_entity", "entity_type", "entity_id"),  # a record's history panel
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id", ondelete="CASCADE"))
    check: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[int]
    period: Mapped[str | None] = mapped_column(String(7))
    """The entity's month, for a check whose entities are a key and a month (a customer's month)."""
    field: Mapped[str] = mapped_column(String(64))
    stored: Mapped[Decimal | None] = mapped_column(Amount)
    expected: Mapped[Decimal | None] = mapped_column(Amount)
    difference: Mapped[Decimal] = mapped_column(Amount)
    fixed: Mapped[bool] = mapped_column(default=False)
    fixed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(DESCRIPTION_LENGTH))
    """Why a fix left it as it was: its source breaks an invariant of its own, to be dealt with first."""

    run: Mapped[ReconciliationRun] = relationship()


class ChunkStatus(enum.StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    DONE = "done"
    FAILED = "failed"


class ReconciliationChunk(db.Model):
    """One key range of one check of a run split into jobs (see ``reconcile.fanout``), and what it found.

    A chunk is recorded ``done``, with its counts and sums, in the transaction that writes its fixes and its
    audit rows: a chunk recorded done has been counted, and one that is not has written nothing.
    """

    __tablename__ = "reconciliation_chunks"
    __table_args__ = (
        UniqueConstraint("run_id", "check", "position"),
        Index("ix_reconciliation_chunks_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id", ondelete="CASCADE"))
    phase: Mapped[int]
    """The step of the run it belongs to: a step starts when every chunk of the one before is done."""
    check: Mapped[str] = mapped_column(String(64))
    position: Mapped[int]
    """Its place among the check's chunks, from 1."""
    low: Mapped[int | None] = mapped_column(BigInteger)
    high: Mapped[int | None] = mapped_column(BigInteger)
    """The keys it covers, both included; none: the whole scope, which fits in one chunk."""
    status: Mapped[ChunkStatus] = mapped_column(str_enum(ChunkStatus, "reconciliation_chunk_status"))
    attempts: Mapped[int] = mapped_column(default=0)
    job_id: Mapped[str | None] = mapped_column(String(64))
    """The queue's job of its latest attempt."""
    enqueued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    checked: Mapped[int] = mapped_column(default=0)
    mismatched: Mapped[int] = mapped_column(default=0)
    fixed: Mapped[int] = mapped_column(default=0)
    totals: Mapped[dict] = mapped_column(JSON, default=dict)
    """Per field, the sum of its stored values and what the fixes move it by, as decimal strings."""
    duration_ms: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    """Why its latest attempt failed."""
    covered: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    """In a nightly maintenance, the part of its check's rows the chunk reads (``reconcile.night``); None: all."""

    run: Mapped[ReconciliationRun] = relationship()
