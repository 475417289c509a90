"""An installation's data brought in from files: each file kept by its SHA-256, each import of one kind."""

import enum
from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Identity, Index, LargeBinary, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship

from backoffice.models.types import utcnow
from backoffice.platform.extensions import db


class ImportStatus(enum.StrEnum):
    CHECKED = "checked"
    """Read and checked whole; nothing written yet."""
    WAITING = "waiting"
    """Checked, and its rows move money by hand beyond the approval limit: it waits for a second admin's approval,
    which starts it."""
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    """Stopped before the end (a worker lost, the database refused a chunk): importing it again resumes it."""


class ImportFile(db.Model):
    """A file's bytes, by their SHA-256: what a worker reads, wherever it runs."""

    __tablename__ = "import_files"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)


class Import(db.Model):
    """One import of one kind from one file: its counts, and its report once it has run."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(ForeignKey("import_files.sha256"), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    status: Mapped[str] = mapped_column(String(20), default=ImportStatus.CHECKED)
    valid_only: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    """Write the valid rows alone, leaving the rejected ones out (an admin's choice); else a rejected row writes
    nothing."""
    rows_in_file: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    rows_good: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    rows_unchanged: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    rows_rejected: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    rows_written: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    job_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(Text)
    report: Mapped[dict | None] = mapped_column(JSONB)
    encoding: Mapped[str | None] = mapped_column(String(40))
    """The text file's encoding as its admin chose it (None: as read from the file, or guessed)."""
    mapping: Mapped[dict | None] = mapped_column(JSONB)
    """The file's headers its admin chose a field for, each to that field's name (None: not kept): the check and
    the write read the file as its preview showed it."""
    written: Mapped[dict | None] = mapped_column(JSONB)
    """How its file writes amounts and dates (``{"decimal": ".", "dates": "mdy"}``), as its user chose or its cells
    said (none: as the installation writes them): its check and its write read every cell alike."""
    updates: Mapped[list | None] = mapped_column(JSONB)
    """The fields its rows fill or change of the records that exist, as its user chose them (none: a record that
    exists with other values is a conflict)."""
    version: Mapped[int] = mapped_column(server_default=text("1"))

    created_by = relationship("User")

    __mapper_args__ = {"version_id_col": version}

    @property
    def actor(self) -> str:
        """What the history of every row it writes says made it: the import, its file's SHA-256 and name."""
        return f"import #{self.id} {self.sha256[:12]} {self.filename}"[:120]


class ImportColumn(db.Model):
    """A header a user mapped, remembered per kind with whoever chose it: that user's next file with that header is
    read the same way, and an admin's (or the command's) choice everyone's."""

    __tablename__ = "import_columns"
    __table_args__ = (
        Index(
            "uq_import_columns_kind_header_chosen_by_id",
            "kind",
            "header",
            "chosen_by_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
    )

    id: Mapped[int] = mapped_column(Identity(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    header: Mapped[str] = mapped_column(String(255))
    """As the file wrote it."""
    field: Mapped[str | None] = mapped_column(String(40))
    """The field it is read into; None: not kept."""
    chosen_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    chosen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
