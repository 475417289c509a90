"""An import's file, kept in the database by its SHA-256 and read back, a piece at a time however large."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import func, select

from backoffice.models import Import, ImportFile
from backoffice.platform.databases import advisory_key
from backoffice.platform.extensions import db

PIECE = 1024 * 1024
"""A file is kept, and read back, this many bytes at a time: however large, it is never held whole."""


@contextmanager
def _folder(filename: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="backoffice-import-") as folder:
        yield Path(folder) / ("file" + Path(filename).suffix.lower()[:10])


def _pieces(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        yield from iter(lambda: file.read(PIECE), b"")


def keep_file(path: Path) -> tuple[str, int]:
    """Keep the file's bytes by their SHA-256 (once, however often it is imported), copied to the database a piece
    at a time; returns the SHA-256 and the size."""
    digest, size = hashlib.sha256(), 0
    for piece in _pieces(path):
        digest.update(piece)
        size += len(piece)
    sha256 = digest.hexdigest()
    # The same file kept meanwhile by another import is waited for, then found: kept once, never refused.
    db.session.execute(select(func.pg_advisory_xact_lock(advisory_key(f"import-file:{sha256}", 8))))
    if db.session.get(ImportFile, sha256) is None:
        copying = db.session.connection().connection.driver_connection.cursor()
        with copying.copy("COPY import_files (sha256, content) FROM STDIN") as copy:
            copy.write(f"{sha256}\t\\\\x".encode())
            for piece in _pieces(path):
                copy.write(piece.hex().encode())
            copy.write(b"\n")
    return sha256, size


@contextmanager
def kept_file_at(record: Import) -> Iterator[Path]:
    """The import's file, read back from the database a piece at a time, as a file removed after the block."""
    content = ImportFile.__table__.c.content
    with _folder(record.filename) as path:
        with path.open("wb") as file:
            start = 1
            while piece := db.session.scalar(
                select(func.substring(content, start, PIECE)).where(ImportFile.sha256 == record.sha256)
            ):
                file.write(piece)
                start += len(piece)
        yield path


def shown_name(filename: str) -> str:
    """The file's name as the import keeps it: its last part, without the characters a text cannot show."""
    name = Path(filename.replace("\\", "/")).name
    return "".join(character for character in name if character.isprintable())[:255] or "file"


@contextmanager
def uploaded(upload, filename: str) -> Iterator[Path]:
    """An uploaded file (werkzeug's ``FileStorage``) saved as a file of its name's extension, a piece at a time."""
    with _folder(filename) as path:
        upload.save(path, buffer_size=PIECE)
        yield path
